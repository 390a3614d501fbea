/**
 * The store's TCP listener. Each connection reads frames (wire/frame.ts); its first frame picks
 * the authentication mechanism (wire/auth: munge, or krb5 when the store has a keytab), which
 * turns each frame into an authenticated request (munge: decoded on koffi's worker threads, so a
 * slow munged call never blocks other clients; krb5: a handshake, then KRB-PRIV messages),
 * answered by the service and sealed for that caller alone. Slow or idle clients are cut off by
 * timers; the connection count and the bytes of incomplete frames are capped; one connection's
 * requests are served in order, one at a time.
 */
import * as net from 'node:net';
import { AddressInfo } from 'node:net';
import { Krb5BridgeError, isKrb5BridgeError } from '../errors';
import { parseAddress } from '../config/config';
import type { Audit } from '../audit/audit';
import type { Service } from '../service';
import { AuthCaller, Caller, ServerAuth, ServerAuthDeps, serverAuthFor } from '../wire/auth';
import { FrameDecoder, encodeFrame } from '../wire/frame';
import { Response, errorResponse, parseJsonObject, parseRequest } from '../wire/messages';

export interface ListenerOptions {
  /** HOST:PORT; port 0 picks a free port. */
  listen: string;
  auth: ServerAuthDeps;
  service: Service;
  audit: Audit;
  log: (line: string) => void;
  /** Beyond this many open connections new ones are closed at once (and logged). */
  maxConnections?: number | undefined;
  /** A connection with no traffic for this long is closed. */
  idleTimeoutMs?: number | undefined;
  /** A frame must arrive completely within this long of its first byte (slowloris). */
  frameTimeoutMs?: number | undefined;
  /** Bytes of incomplete frames held for all connections together; beyond it the sender is cut off. */
  maxBufferedBytes?: number | undefined;
}

export interface Listener {
  listen(): Promise<AddressInfo>;
  /** Stop accepting, let in-flight requests finish, close every connection. */
  close(): Promise<void>;
  connections(): number;
}

const ZERO_NONCE = '0000000000000000';

export function createListener(o: ListenerOptions): Listener {
  const { log, audit, service } = o;
  const address = parseAddress(o.listen, '--listen');
  const idleMs = o.idleTimeoutMs ?? 30_000;
  const frameMs = o.frameTimeoutMs ?? 10_000;
  const maxBuffered = o.maxBufferedBytes ?? 64 * 1024 * 1024;
  let bufferedTotal = 0;
  const open = new Set<Connection>();
  let closing = false;
  let lastDropLog = 0;
  let dropped = 0;

  const server = net.createServer({ noDelay: true, pauseOnConnect: false });
  server.maxConnections = o.maxConnections ?? 4096;
  server.on('drop', (d?: { remoteAddress?: string }) => {
    dropped++;
    const t = Date.now();
    if (t - lastDropLog >= 10_000) {
      log(`connection limit ${server.maxConnections} reached: refused ${dropped} connection(s) (latest from ${d?.remoteAddress ?? '?'}); raise --max-connections or find the client that holds them`);
      lastDropLog = t;
      dropped = 0;
    }
  });

  /** The answer to one frame, sealed by the connection's mechanism; frame undefined = close without answer. */
  async function answer(auth: ServerAuth, body: Buffer, peer: string): Promise<{ frame: Buffer | undefined; close: boolean }> {
    let inbound;
    try {
      inbound = await auth.receive(body);
    } catch (e) {
      const err = isKrb5BridgeError(e) ? e : new Krb5BridgeError('E_INTERNAL', String(e));
      log(`op=? mech=${auth.mech} peer=${peer} result=${err.code} request refused: ${err.detail ?? err.message}`);
      audit.record({ op: '?', result: 'refused', code: err.code, host: peer, mech: auth.mech });
      // We do not know who sent it: the answer says only why, and the connection closes.
      const nonce = nonceOf(auth.refusedPayload(e));
      return { frame: await sealOrNothing(auth, errorResponse(nonce, err.code, err.detail ?? err.message), undefined), close: true };
    }
    if (inbound.kind === 'handshake') {
      log(`mech=${auth.mech} principal=${inbound.caller.principal ?? '?'} uid=${inbound.caller.uid} peer=${peer} result=ok authenticated`);
      return { frame: inbound.reply, close: false };
    }
    const caller = withPeer(inbound.caller, peer);
    let response: Response;
    let close = false;
    try {
      response = await service.handle(caller, parseRequest(inbound.payload));
    } catch (e) {
      // Only a request that does not parse gets here: the service answers everything else.
      const err = isKrb5BridgeError(e) ? e : new Krb5BridgeError('E_INTERNAL', String(e));
      log(`op=? uid=${caller.uid}${caller.principal ? ` principal=${caller.principal}` : ''} result=${err.code} ${err.detail ?? ''}`.trim());
      audit.record({ op: '?', result: 'refused', code: err.code, uid: caller.uid, principal: caller.principal, host: caller.host, mech: caller.mech });
      response = errorResponse(nonceOf(inbound.payload), err.code, err.detail ?? err.message);
      close = true;
    }
    return { frame: await sealOrNothing(auth, response, caller), close };
  }

  async function sealOrNothing(auth: ServerAuth, response: Response, caller: AuthCaller | undefined): Promise<Buffer | undefined> {
    try {
      return await auth.seal(Buffer.from(JSON.stringify(response), 'utf8'), caller);
    } catch (e) {
      log(`cannot answer ${caller?.principal ?? `uid ${caller?.uid ?? '?'}`}: ${(e as Error).message}`);
      return undefined;
    }
  }

  class Connection {
    private readonly decoder = new FrameDecoder();
    private readonly queue: Buffer[] = [];
    private busy = false;
    private frameTimer: NodeJS.Timeout | undefined;
    private readonly peer: string;
    /** Picked by the first frame; holds the krb5 session of this connection. */
    private auth: ServerAuth | undefined;

    constructor(private readonly socket: net.Socket) {
      this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
      socket.setTimeout(idleMs, () => this.drop(`idle for ${idleMs} ms`));
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
      socket.on('error', () => undefined); // resets by clients are normal; 'close' follows
      socket.on('close', () => {
        this.clearFrameTimer();
        this.auth?.close();
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
        const body = this.queue.shift()!;
        this.auth ??= serverAuthFor(body, o.auth);
        const { frame, close } = await answer(this.auth, body, this.socket.remoteAddress ?? '?');
        if (this.socket.destroyed) break;
        if (frame === undefined) {
          this.drop('no answer could be encoded');
          break;
        }
        this.socket.write(encodeFrame(frame));
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
    connections: () => open.size,
    listen: () =>
      new Promise<AddressInfo>((resolve, reject) => {
        const onError = (e: NodeJS.ErrnoException): void => {
          reject(new Krb5BridgeError('E_STATE', `cannot listen on ${o.listen}: ${e.code ?? e.message}`, { cause: e }));
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

/**
 * The caller as the service sees it: addr = the peer's IP as the socket saw it; host = the host
 * principal's host for a node's host key, else that address (host rules match either).
 */
function withPeer(caller: AuthCaller, peer: string): Caller {
  return { ...caller, host: caller.host ?? peer, addr: peer };
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
