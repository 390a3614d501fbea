/**
 * The keeper daemon: a root-only unix socket for the plugin (directory 0700 root, socket 0600,
 * and each peer's uid from SO_PEERCRED must be 0), plus the refresh and sweep timers of Keeper.
 * build() prepares, listen() starts, close() stops (fastify's build/listen split).
 */
import * as net from 'node:net';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { Krb5BridgeError, isKrb5BridgeError } from '../errors';
import { lstatOrUndefined } from '../util/fsafe';
import { ensureTrustedDir } from '../util/trustedpath';
import { VERSION } from '../version';
import { materialiseAnswer } from '../node';
import { Keeper, KeeperOptions } from './keeper';
import { peerCred } from './peercred';
import { MAX_LINE, errorLine, okLine, parseKeeperRequest } from './protocol';

/** Cycles never follow each other closer than this (a job due now is not a busy loop). */
const MIN_CYCLE_GAP_MS = 500;

export interface KeeperDaemonOptions extends KeeperOptions {
  socket: string;
  /** Refresh cycle period. */
  tickMs?: number;
  /** Sweep period; 0 = only at start-up... and never if `sweep` is false. */
  sweepIntervalMs?: number;
  sweep?: boolean;
  /** A request must arrive completely within this long. */
  requestTimeoutMs?: number;
  /** Each answered request: op, `ok` or the error code, seconds (metrics/keeper.ts). */
  observe?: ((op: string, result: string, seconds: number) => void) | undefined;
}

export interface KeeperDaemon {
  readonly keeper: Keeper;
  listen(): Promise<void>;
  close(): Promise<void>;
}

/** Is something answering on this socket path? */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The socket's directory is root's and private; a stale socket is removed, a live one refused. */
async function prepareSocketPath(path: string): Promise<void> {
  ensureTrustedDir(dirname(path), 'keeper socket directory');
  const st = lstatOrUndefined(path);
  if (!st) return;
  if (!st.isSocket()) throw new Krb5BridgeError('E_STATE', `${path} exists and is not a socket; remove it or set keeper_socket elsewhere`);
  if (await answers(path)) throw new Krb5BridgeError('E_STATE', `another keeper already answers on ${path}; stop it first`);
  unlinkSync(path);
}

export function build(o: KeeperDaemonOptions): KeeperDaemon {
  const keeper = new Keeper(o);
  const log = o.log;
  const open = new Set<net.Socket>();
  let tick: NodeJS.Timeout | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  let cycling: Promise<void> | undefined;
  let closing = false;

  async function answer(line: string): Promise<string> {
    const req = parseKeeperRequest(line);
    switch (req.op) {
      case 'materialise':
        return okLine(materialiseAnswer(await keeper.materialise(req.uid, req.gid, req.job)));
      case 'destroy':
        return okLine(await keeper.destroy(req.uid, req.job));
      case 'ping':
        return okLine(`krb5bridge-keeper ${VERSION} jobs=${keeper.size}`);
      case 'stats': {
        const s = keeper.stats;
        const m = process.memoryUsage();
        return okLine(
          `jobs=${keeper.size} rss_kib=${Math.round(m.rss / 1024)} heap_kib=${Math.round(m.heapUsed / 1024)} refreshes=${s.refreshes} ` +
            `kdc_renewals=${s.kdcRenewals} cycles=${s.cycles} last_cycle_cpu_us=${s.lastCycleCpuUs} sweeps=${s.sweeps} swept=${s.swept}`,
        );
      }
    }
  }

  function onConnection(socket: net.Socket): void {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => undefined);
    let peer;
    try {
      peer = peerCred(socket);
    } catch (e) {
      socket.end(errorLine(e as Krb5BridgeError));
      return;
    }
    // The directory already keeps others out; the kernel's word on the peer is the second lock.
    if (peer.uid !== 0) {
      log(`refused a connection from uid ${peer.uid} (pid ${peer.pid}): only root may use the keeper`);
      socket.end(errorLine(new Krb5BridgeError('E_PERMISSION', `only root may use the keeper; you are uid ${peer.uid}`)));
      return;
    }
    let buf = '';
    let done = false;
    socket.setTimeout(o.requestTimeoutMs ?? 5_000, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      if (done) return;
      buf += chunk.toString('latin1');
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > MAX_LINE) {
          done = true;
          socket.end(errorLine(new Krb5BridgeError('E_PROTOCOL', `request longer than ${MAX_LINE} bytes`)));
        }
        return;
      }
      done = true;
      socket.setTimeout(0);
      const line = buf.slice(0, nl);
      const t0 = Date.now();
      const h0 = process.hrtime.bigint();
      void answer(line)
        .catch((e: unknown) => errorLine(isKrb5BridgeError(e) ? e : new Krb5BridgeError('E_INTERNAL', e instanceof Error ? e.message : String(e))))
        .then((reply) => {
          const what = line.split(' ')[0];
          const known = ['materialise', 'destroy', 'ping', 'stats'].includes(what ?? '') ? (what as string) : '?';
          o.observe?.(known, reply.startsWith('ok') ? 'ok' : (/ (E_[A-Z_]+):/.exec(reply)?.[1] ?? 'error'), Number(process.hrtime.bigint() - h0) / 1e9);
          if (what === 'materialise' || what === 'destroy') log(`${line} -> ${reply.trim()} (${Date.now() - t0} ms)`);
          if (!socket.destroyed) socket.end(reply);
        });
    });
  }

  const server = net.createServer(onConnection);

  /**
   * Every tick, or sooner when a job is due before it: a last attempt a second or two before a
   * ticket expires is made then, not up to a tick later. Never sooner than MIN_CYCLE_GAP_MS.
   */
  function untilNextCycle(): number {
    const tickMs = o.tickMs ?? 5_000;
    const due = keeper.nextDue();
    if (due === undefined) return tickMs;
    return Math.min(tickMs, Math.max(MIN_CYCLE_GAP_MS, due * 1000 - Date.now()));
  }

  function scheduleTick(ms: number): void {
    if (closing) return;
    tick = setTimeout(() => {
      cycling = keeper
        .cycle()
        .catch((e: unknown) => log(`refresh cycle failed: ${(e as Error).message}`))
        .finally(() => {
          cycling = undefined;
          scheduleTick(untilNextCycle());
        });
    }, ms);
  }

  function scheduleSweep(): void {
    if (closing || o.sweep === false || !o.sweepIntervalMs) return;
    sweepTimer = setTimeout(() => {
      void keeper
        .sweep()
        .catch((e: unknown) => log(`sweep failed: ${(e as Error).message}`))
        .finally(scheduleSweep);
    }, o.sweepIntervalMs);
  }

  return {
    keeper,
    async listen() {
      await prepareSocketPath(o.socket);
      keeper.scanRecords();
      log(`tracking ${keeper.size} job ccache(s) from ${o.stateDir}/jobs`);
      if (o.sweep !== false) await keeper.sweep();
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e: NodeJS.ErrnoException) => reject(new Krb5BridgeError('E_STATE', `cannot listen on ${o.socket}: ${e.code ?? e.message}`, { cause: e })));
        server.listen({ path: o.socket, backlog: 1024 }, () => resolve());
      });
      chmodSync(o.socket, 0o600);
      const st = lstatSync(o.socket);
      if (st.uid !== process.geteuid!()) throw new Krb5BridgeError('E_STATE', `${o.socket} is not ours after listen`);
      scheduleTick(0);
      scheduleSweep();
    },
    async close() {
      closing = true;
      if (tick) clearTimeout(tick);
      if (sweepTimer) clearTimeout(sweepTimer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      });
      await cycling;
    },
  };
}
