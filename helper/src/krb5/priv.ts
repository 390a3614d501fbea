/**
 * KRB-PRIV messages of one authenticated connection (krb5_mk_priv / krb5_rd_priv on the auth
 * context of the AP exchange): encrypted and integrity-protected under the client's fresh subkey,
 * with sequence numbers (a replayed, dropped or reordered message does not open) and a fixed
 * pseudo-address per direction (a message reflected back to its sender does not open either).
 * Everything runs on the calling thread: one auth context, one connection.
 */
import { Krb5BridgeError } from '../errors';
import { KRB5, KrbAddress, Ptr, cAlloc, check, copyIn, ctx, errorMessage, fn, freeInData, inData, koffi, outData, takeOut, cFree } from './lib';

/** Largest AP-REQ / AP-REP / KRB-PRIV handed to libkrb5 (a frame is at most 1 MiB anyway). */
export const MAX_MESSAGE = 1024 * 1024 + 4096;

/**
 * krb5_mk_priv needs a sender address. Real IP addresses mean nothing across NAT and proxies (the
 * subkey and sequence numbers are the protection), so each direction gets a fixed pseudo-address.
 */
const ADDRTYPE_INET = 2;
function pseudoAddress(last: number): Ptr {
  const bytes = cAlloc(4);
  copyIn(bytes, Buffer.from([0, 0, 0, last]));
  const a = cAlloc(koffi.sizeof(KrbAddress));
  koffi.encode(a, KrbAddress, { magic: 0, addrtype: ADDRTYPE_INET, length: 4, contents: bytes });
  return a;
}
let addrs: { client: Ptr; server: Ptr } | undefined;

/** Give an auth context our side's pseudo-addresses. */
export function setDirection(ac: Ptr, side: 'client' | 'server'): void {
  addrs ??= { client: pseudoAddress(1), server: pseudoAddress(2) };
  const [local, remote] = side === 'client' ? [addrs.client, addrs.server] : [addrs.server, addrs.client];
  check('krb5_auth_con_setaddrs', fn.auth_con_setaddrs(ctx(), ac, local, remote) as number);
}

/** E_AUTH with what went wrong said plainly (replay, order, integrity), then libkrb5's words. */
export function authError(call: string, code: number, what: string): Krb5BridgeError {
  let why = errorMessage(code);
  if (code === KRB5.AP_ERR_REPEAT) why = `replayed authentication (${why})`;
  else if (code === KRB5.AP_ERR_BADORDER) why = `message out of sequence: replayed, dropped or reordered (${why})`;
  else if (code === KRB5.AP_ERR_BAD_INTEGRITY) why = `integrity check failed: tampered message or wrong key (${why})`;
  return new Krb5BridgeError('E_AUTH', `${what}: ${call}: ${why} [${code}]`);
}

/** One authenticated connection's auth context: seal and open KRB-PRIV messages. */
export class PrivSession {
  protected ac: Ptr | undefined;

  protected constructor(ac: Ptr) {
    this.ac = ac;
  }

  protected get handle(): Ptr {
    if (this.ac === undefined) throw new Krb5BridgeError('E_INTERNAL', 'Kerberos session used after close');
    return this.ac;
  }

  /** krb5_mk_priv: encrypted and integrity-protected under the subkey, with our next sequence number. */
  seal(plain: Buffer): Buffer {
    const c = ctx();
    const input = inData(plain);
    const out = outData();
    try {
      const code = fn.mk_priv(c, this.handle, input.data, out, null) as number;
      if (code !== 0) {
        cFree(out);
        throw new Krb5BridgeError('E_KRB5', `krb5_mk_priv: ${errorMessage(code)} [${code}]`);
      }
      return takeOut(out);
    } finally {
      freeInData(input, true);
    }
  }

  /** krb5_rd_priv: decrypts and checks integrity and the peer's sequence number; E_AUTH otherwise. */
  open(message: Buffer, what: string): Buffer {
    if (message.length === 0 || message.length > MAX_MESSAGE) throw new Krb5BridgeError('E_AUTH', `${what}: message of ${message.length} bytes`);
    const c = ctx();
    const input = inData(message);
    const out = outData();
    try {
      const code = fn.rd_priv(c, this.handle, input.data, out, null) as number;
      if (code !== 0) {
        cFree(out);
        throw authError('krb5_rd_priv', code, what);
      }
      return takeOut(out, true);
    } finally {
      freeInData(input);
    }
  }

  close(): void {
    if (this.ac !== undefined) fn.auth_con_free(ctx(), this.ac);
    this.ac = undefined;
  }
}
