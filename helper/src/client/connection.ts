/**
 * One TCP connection to the store: connect within a deadline, send a frame, read one frame back.
 * Errors name the address and say what happened: E_STORE_UNREACHABLE (cannot connect),
 * E_STORE_CLOSED (connected, then the store closed or reset the connection before answering: it
 * was restarting, or refused the request and said why in its log), E_STORE_TIMEOUT (connected,
 * no answer in time), E_PROTOCOL (the store sent something that is not a frame).
 */
import * as net from 'node:net';
import { Krb5BridgeError } from '../errors';
import { parseAddress } from '../config/config';
import { FrameDecoder, encodeFrame } from '../wire/frame';

export class StoreConnection {
  private readonly decoder = new FrameDecoder();
  private readonly frames: Buffer[] = [];
  private waiter: ((r: { frame?: Buffer; error?: Krb5BridgeError }) => void) | undefined;
  private failure: Krb5BridgeError | undefined;

  private constructor(
    private readonly socket: net.Socket,
    readonly address: string,
  ) {
    socket.on('data', (chunk: Buffer) => {
      try {
        this.frames.push(...this.decoder.push(chunk));
      } catch (e) {
        this.fail(new Krb5BridgeError('E_PROTOCOL', `store ${address} sent a bad frame: ${(e as Error).message}`));
        socket.destroy();
        return;
      }
      this.wake();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => this.fail(new Krb5BridgeError('E_STORE_CLOSED', `the connection to ${address} broke before the answer: ${e.code ?? e.message}`, { cause: e })));
    socket.on('close', () => this.fail(new Krb5BridgeError('E_STORE_CLOSED', `store ${address} closed the connection without answering (restarting? see the store's log)`)));
  }

  /** Connect to HOST:PORT, giving up at `deadline` (ms since the epoch). */
  static connect(address: string, deadline: number): Promise<StoreConnection> {
    const { host, port } = parseAddress(address, 'store address');
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Krb5BridgeError('E_STORE_UNREACHABLE', `no connection to ${address} within ${Math.round((deadline - started) / 100) / 10} s`));
      }, Math.max(0, deadline - Date.now()));
      socket.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new Krb5BridgeError('E_STORE_UNREACHABLE', `cannot connect to ${address}: ${e.code ?? e.message}`, { cause: e }));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new StoreConnection(socket, address));
      });
    });
  }

  /** The store closed or reset it, or it timed out: no request can go through it any more. */
  get broken(): boolean {
    return this.failure !== undefined || this.socket.destroyed;
  }

  /** Send one frame and wait for the next frame from the store, until `deadline`. */
  request(body: Buffer, deadline: number): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    const started = Date.now();
    this.socket.write(encodeFrame(body));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Krb5BridgeError('E_STORE_TIMEOUT', `store ${this.address} sent no answer within ${Math.round((deadline - started) / 100) / 10} s`));
        this.socket.destroy();
      }, Math.max(0, deadline - Date.now()));
      this.waiter = (r) => {
        clearTimeout(timer);
        this.waiter = undefined;
        if (r.frame) resolve(r.frame);
        else reject(r.error);
      };
      this.wake();
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private fail(e: Krb5BridgeError): void {
    this.failure ??= e;
    this.wake();
  }

  private wake(): void {
    if (!this.waiter) return;
    const frame = this.frames.shift();
    if (frame) this.waiter({ frame });
    else if (this.failure) this.waiter({ error: this.failure });
  }
}
