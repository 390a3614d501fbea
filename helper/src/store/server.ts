/**
 * The store daemon: build() loads the state, listen() accepts connections. Each connection reads
 * frames; each frame is a munge credential that is decoded (on koffi's worker threads, so a slow
 * munged call never blocks other clients), answered by the handlers, and the answer munge-encoded
 * for the caller's uid alone. Slow or idle clients are cut off by timers; the connection count is
 * capped; one connection's requests are served in order, one at a time.
 */
import * as net from 'node:net';
import { AddressInfo } from 'node:net';
import { Krb5BridgeError, isKrb5BridgeError } from '../errors';
import { parseAddress } from '../config/config';
import { parseKrbCred } from '../krb5';
import { mungeCauseOf, mungeDecode, mungeEncode } from '../munge';
import { Handlers } from './handlers';
import { UidResolver } from './passwd';
import { StatePaths, loadAll, openStateDir } from './persist';
import { FrameDecoder, Response, encodeFrame, errorResponse, parseJsonObject, parseRequest } from './protocol';
import { CredState } from './state';
import { VERSION } from '../version';

export interface StoreOptions {
  /** HOST:PORT; port 0 picks a free port. */
  listen: string;
  stateDir: string;
  minUid: number;
  mungeSocket?: string | undefined;
  /** Beyond this many open connections new ones are closed at once (and logged). */
  maxConnections?: number;
  /** A connection with no traffic for this long is closed. */
  idleTimeoutMs?: number;
  /** A frame must arrive completely within this long of its first byte (slowloris). */
  frameTimeoutMs?: number;
  /** Bytes of incomplete frames held for all connections together; beyond it the sender is cut off. */
  maxBufferedBytes?: number;
  log?: (line: string) => void;
}

export interface Store {
  /** Start accepting; resolves with the bound address. */
  listen(): Promise<AddressInfo>;
  /** Stop accepting, let in-flight requests finish, close every connection. */
  close(): Promise<void>;
  readonly state: CredState;
  readonly paths: StatePaths;
  /** Open connections now. */
  connections(): number;
}

const ZERO_NONCE = '0000000000000000';

/** Load the state directory and wire the handlers; nothing listens yet. */
export function build(opts: StoreOptions): Store {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${new Date().toISOString()} krb5bridge: ${line}\n`));
  const address = parseAddress(opts.listen, '--listen');
  const paths = openStateDir(opts.stateDir);
  const state = new CredState();
  const now = (): number => Math.floor(Date.now() / 1000);
  for (const r of loadAll(paths, (r) => checkLoaded(r.creds), log)) state.set(r);
  log(`loaded ${state.size} credential(s) from ${paths.creds}`);

  const resolver = new UidResolver();
  const handlers = new Handlers({
    state,
    paths,
    minUid: opts.minUid,
    version: VERSION,
    resolveUid: (name) => resolver.uidOf(name),
    now,
    log,
  });
  const munge = { socket: opts.mungeSocket };
  const idleMs = opts.idleTimeoutMs ?? 30_000;
  const frameMs = opts.frameTimeoutMs ?? 10_000;
  const maxBuffered = opts.maxBufferedBytes ?? 64 * 1024 * 1024;
  let bufferedTotal = 0;
  const open = new Set<Connection>();
  let closing = false;
  let lastDropLog = 0;
  let dropped = 0;

  const server = net.createServer({ noDelay: true, pauseOnConnect: false });
  server.maxConnections = opts.maxConnections ?? 4096;
  server.on('drop', (d?: { remoteAddress?: string }) => {
    dropped++;
    const t = Date.now();
    if (t - lastDropLog >= 10_000) {
      log(`connection limit ${server.maxConnections} reached: refused ${dropped} connection(s) (latest from ${d?.remoteAddress ?? '?'}); raise --max-connections or find the client that holds them`);
      lastDropLog = t;
      dropped = 0;
    }
  });

  /** The answer to one frame, as a munge credential for the caller; undefined = close without answer. */
  async function answer(body: Buffer): Promise<{ cred: string | undefined; close: boolean }> {
    let caller: { uid: number; gid: number; payload: Buffer };
    try {
      caller = await mungeDecode(body.toString('latin1'), munge);
    } catch (e) {
      const err = isKrb5BridgeError(e) ? e : new Krb5BridgeError('E_INTERNAL', String(e));
      log(`op=? result=${err.code} request credential refused: ${err.detail ?? err.message}`);
      // We do not know who sent it: the answer is not uid-restricted and says only why.
      const nonce = nonceOf(mungeCauseOf(e)?.payload);
      return { cred: await encodeOrNothing(errorResponse(nonce, err.code, err.detail ?? err.message), undefined), close: true };
    }
    let response: Response;
    let close = false;
    try {
      response = await handlers.handle(caller, parseRequest(caller.payload));
    } catch (e) {
      const err = isKrb5BridgeError(e) ? e : new Krb5BridgeError('E_INTERNAL', String(e));
      log(`op=? uid=${caller.uid} result=${err.code} ${err.detail ?? ''}`.trim());
      response = errorResponse(nonceOf(caller.payload), err.code, err.detail ?? err.message);
      close = true;
    }
    return { cred: await encodeOrNothing(response, caller.uid), close };
  }

  async function encodeOrNothing(response: Response, uid: number | undefined): Promise<string | undefined> {
    try {
      return await mungeEncode(Buffer.from(JSON.stringify(response), 'utf8'), { ...munge, uidRestriction: uid });
    } catch (e) {
      log(`cannot answer uid ${uid ?? '?'}: ${(e as Error).message}`);
      return undefined;
    }
  }

  class Connection {
    private readonly decoder = new FrameDecoder();
    private readonly queue: Buffer[] = [];
    private busy = false;
    private frameTimer: NodeJS.Timeout | undefined;
    private readonly peer: string;

    constructor(private readonly socket: net.Socket) {
      this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
      socket.setTimeout(idleMs, () => this.drop(`idle for ${idleMs} ms`));
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
      socket.on('error', () => undefined); // resets by clients are normal; 'close' follows
      socket.on('close', () => {
        this.clearFrameTimer();
        bufferedTotal -= this.decoder.pending;
        open.delete(this);
      });
    }

    get idle(): boolean {
      return !this.busy && this.queue.length === 0;
    }

    drop(why: string): void {
      if (why) log(`closing connection from ${this.peer}: ${why}`);
      this.socket.destroy();
    }

    private onData(chunk: Buffer): void {
      // Frames may be 1 MiB; thousands of half-sent ones must not exhaust memory.
      if (bufferedTotal + chunk.length > maxBuffered) {
        this.drop(`the store holds ${bufferedTotal} bytes of incomplete frames (limit ${maxBuffered}); refusing ${chunk.length} more`);
        return;
      }
      const before = this.decoder.pending;
      let frames: Buffer[];
      try {
        frames = this.decoder.push(chunk);
      } catch (e) {
        const err = e as Krb5BridgeError;
        this.drop(`${err.code}: ${err.detail ?? err.message}`);
        return;
      } finally {
        bufferedTotal += this.decoder.pending - before;
      }
      if (this.decoder.pending > 0) {
        this.frameTimer ??= setTimeout(() => this.drop(`no complete frame within ${frameMs} ms`), frameMs);
      } else this.clearFrameTimer();
      if (frames.length === 0) return;
      this.queue.push(...frames);
      // One request at a time per connection: stop reading until it is answered.
      this.socket.pause();
      if (!this.busy) void this.serve();
    }

    private clearFrameTimer(): void {
      if (this.frameTimer) clearTimeout(this.frameTimer);
      this.frameTimer = undefined;
    }

    private async serve(): Promise<void> {
      this.busy = true;
      while (this.queue.length > 0 && !this.socket.destroyed) {
        const { cred, close } = await answer(this.queue.shift()!);
        if (this.socket.destroyed) break;
        if (cred === undefined) {
          this.drop('no answer could be encoded');
          break;
        }
        this.socket.write(encodeFrame(cred));
        if (close || closing) {
          this.queue.length = 0;
          this.socket.end();
          setTimeout(() => this.socket.destroy(), 1_000).unref();
          break;
        }
      }
      this.busy = false;
      if (!this.socket.destroyed) this.socket.resume();
    }
  }

  server.on('connection', (socket) => {
    if (closing) return void socket.destroy();
    open.add(new Connection(socket));
  });

  return {
    state,
    paths,
    connections: () => open.size,
    listen: () =>
      new Promise<AddressInfo>((resolve, reject) => {
        const onError = (e: NodeJS.ErrnoException): void => {
          reject(new Krb5BridgeError('E_STATE', `cannot listen on ${opts.listen}: ${e.code ?? e.message}`, { cause: e }));
        };
        server.once('error', onError);
        server.listen({ host: address.host, port: address.port, backlog: 1024 }, () => {
          server.off('error', onError);
          resolve(server.address() as AddressInfo);
        });
      }),
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        server.close(() => resolve());
        // Idle connections close now; busy ones end after their answer (serve() checks `closing`).
        for (const c of open) if (c.idle) c.drop('');
        // A client that never closes its side must not hold the shutdown forever.
        setTimeout(() => {
          for (const c of open) c.drop('still open at shutdown');
        }, 5_000).unref();
      }),
  };
}

/** A loaded record must still hold a KRB-CRED libkrb5 can read. */
function checkLoaded(b64: string): void {
  parseKrbCred(Buffer.from(b64, 'base64'));
}

/** The nonce of a request payload, for an error answer; zeros when there is none to echo. */
function nonceOf(payload: Buffer | undefined): string {
  if (!payload || payload.length === 0 || payload.length > 1024 * 1024) return ZERO_NONCE;
  try {
    const nonce = parseJsonObject(payload.toString('utf8'), 'request').nonce;
    return typeof nonce === 'string' && /^[0-9a-f]{16}$/.test(nonce) ? nonce : ZERO_NONCE;
  } catch {
    return ZERO_NONCE;
  }
}
