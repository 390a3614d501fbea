/**
 * SPNEGO (HTTP `Authorization: Negotiate`) for the gateway, through the real libgssapi_krb5
 * (gssapi.ts): gss_accept_sec_context with acceptor credentials from the gateway's keytab (a
 * cred store naming the checked keytab through its descriptor), the client's name, and the
 * delegated credential, which gss_krb5_copy_ccache writes into a new MEMORY ccache (never a file).
 * Without delegation there is no TGT to push: E_NO_DELEGATION says how to enable it.
 *
 * Why GSSAPI here when the store's krb5 mode uses the raw krb5 API (ap.ts): SPNEGO tokens are
 * GSSAPI's wire format (the SPNEGO negotiation wrapping a krb5 AP-REQ with a KRB-CRED in its
 * checksum), which only GSSAPI takes apart. No crypto or ASN.1 is done here. Synchronous: the
 * acceptor needs no KDC (the keytab decrypts the ticket).
 */
import { randomBytes } from 'node:crypto';
import { Krb5BridgeError } from '../errors';
import { GSS, GssBuffer, GssKeyValue, GssKeyValueSet, GssOid, gss } from './gssapi';
import { Ptr, cAlloc, cFree, copyIn, copyOut, ctx, errorMessage, fn, koffi } from './lib';
import type { Keytab } from './keytab';
import { parsePrincipal } from './names';

/** Bounds an HTTP header can carry anyway; beyond this a token is garbage. */
export const MAX_SPNEGO_TOKEN = 64 * 1024;

export interface SpnegoResult {
  /** The authenticated client principal. */
  principal: string;
  /** MEMORY:... with the delegated TGT; destroyCcache() it when done. */
  ccache: string;
  /** The acceptor's answer token (mutual authentication) for `WWW-Authenticate: Negotiate`, if any. */
  reply: Buffer | undefined;
}

/** libgssapi's words for a major/minor status pair. */
function statusText(major: number, minor: number): string {
  const words: string[] = [];
  for (const [code, type] of [
    [major, GSS.C_GSS_CODE],
    [minor, GSS.C_MECH_CODE],
  ] as const) {
    if (type === GSS.C_MECH_CODE && code === 0) continue;
    const msgCtx = [0];
    for (let i = 0; i < 8; i++) {
      const buf = cAlloc(koffi.sizeof(GssBuffer));
      try {
        gss().display_status([0], code, type, null, msgCtx, buf);
        const b = koffi.decode(buf, GssBuffer) as { length: number; value: Ptr | null };
        if (b.value && b.length > 0) words.push(copyOut(b.value, Number(b.length)).toString('utf8'));
        gss().release_buffer([0], buf);
      } finally {
        cFree(buf);
      }
      if (msgCtx[0] === 0) break;
    }
  }
  return words.join('; ');
}

/** A gss_buffer_desc in C memory holding a copy of `buf`; free both pointers. */
function inBuffer(buf: Buffer): { p: Ptr; bytes: Ptr } {
  const bytes = cAlloc(Math.max(1, buf.length));
  copyIn(bytes, buf);
  const p = cAlloc(koffi.sizeof(GssBuffer));
  koffi.encode(p, GssBuffer, { length: buf.length, value: bytes });
  return { p, bytes };
}

function cString(s: string): Ptr {
  const b = Buffer.from(`${s}\0`, 'utf8');
  const p = cAlloc(b.length);
  copyIn(p, b);
  return p;
}

export class SpnegoAcceptor {
  private cred: Ptr | undefined;

  /** Acceptor credentials from `keytab` (already checked: trusted path, holds the gateway's key). */
  constructor(keytab: Keytab) {
    const key = cString('keytab');
    const value = cString(keytab.descriptorName());
    const element = cAlloc(koffi.sizeof(GssKeyValue));
    const set = cAlloc(koffi.sizeof(GssKeyValueSet));
    try {
      koffi.encode(element, GssKeyValue, { key, value });
      koffi.encode(set, GssKeyValueSet, { count: 1, elements: element });
      const minor = [0];
      const out: [Ptr | null] = [null];
      const major = gss().acquire_cred_from(minor, null, 0, null, GSS.C_ACCEPT, set, out, null, null) as number;
      if (major & GSS.ERROR_MASK || !out[0]) {
        throw new Krb5BridgeError('E_CONFIG', `gss_acquire_cred_from with keytab ${keytab.name}: ${statusText(major, minor[0]!)}`);
      }
      this.cred = out[0];
    } finally {
      cFree(set);
      cFree(element);
      cFree(value);
      cFree(key);
    }
  }

  /** Accept one SPNEGO token (the base64-decoded `Negotiate` value). */
  accept(token: Buffer): SpnegoResult {
    if (!this.cred) throw new Krb5BridgeError('E_INTERNAL', 'SPNEGO acceptor is closed');
    if (token.length === 0 || token.length > MAX_SPNEGO_TOKEN) throw new Krb5BridgeError('E_AUTH', `SPNEGO token of ${token.length} bytes`);
    const g = gss();
    const input = inBuffer(token);
    const output = cAlloc(koffi.sizeof(GssBuffer));
    const context: [Ptr | null] = [null];
    const srcName: [Ptr | null] = [null];
    const delegated: [Ptr | null] = [null];
    try {
      const minor = [0];
      const flags = [0];
      const major = g.accept_sec_context(minor, context, this.cred, input.p, null, srcName, null, output, flags, null, delegated) as number;
      if (major & GSS.ERROR_MASK) throw new Krb5BridgeError('E_AUTH', `the Negotiate token was refused: ${statusText(major, minor[0]!)}`);
      if (major & GSS.S_CONTINUE_NEEDED) {
        throw new Krb5BridgeError('E_AUTH', 'SPNEGO asked for another round trip, which this gateway does not keep state for; use Kerberos (curl --negotiate) directly');
      }
      const principal = this.displayName(srcName[0]!);
      if (!(flags[0]! & GSS.C_DELEG_FLAG) || !delegated[0]) {
        throw new Krb5BridgeError('E_NO_DELEGATION', `${principal} authenticated, but sent no delegated ticket`);
      }
      const ccache = this.copyToMemory(delegated[0], principal);
      const out = koffi.decode(output, GssBuffer) as { length: number; value: Ptr | null };
      const reply = out.value && out.length > 0 ? copyOut(out.value, Number(out.length)) : undefined;
      return { principal, ccache, reply };
    } finally {
      const m = [0];
      if (srcName[0]) g.release_name(m, srcName);
      if (delegated[0]) g.release_cred(m, delegated);
      if (context[0]) g.delete_sec_context(m, context, null);
      g.release_buffer(m, output);
      cFree(output);
      cFree(input.bytes);
      cFree(input.p);
    }
  }

  private displayName(name: Ptr): string {
    const buf = cAlloc(koffi.sizeof(GssBuffer));
    try {
      const minor = [0];
      const major = gss().display_name(minor, name, buf, null) as number;
      if (major & GSS.ERROR_MASK) throw new Krb5BridgeError('E_AUTH', `gss_display_name: ${statusText(major, minor[0]!)}`);
      const b = koffi.decode(buf, GssBuffer) as { length: number; value: Ptr | null };
      const s = b.value ? copyOut(b.value, Number(b.length)).toString('utf8') : '';
      gss().release_buffer([0], buf);
      return s;
    } finally {
      cFree(buf);
    }
  }

  /** The delegated credential into a new MEMORY ccache of `principal` (gss_krb5_copy_ccache only copies); returns its name. */
  private copyToMemory(cred: Ptr, principal: string): string {
    const c = ctx();
    const name = `MEMORY:krb5bridge-gw-${randomBytes(12).toString('hex')}`;
    const out: [Ptr | null] = [null];
    const code = fn.cc_resolve(c, name, out) as number;
    if (code !== 0 || !out[0]) throw new Krb5BridgeError('E_KRB5', `krb5_cc_resolve ${name}: ${errorMessage(code)}`);
    const princ = parsePrincipal(principal);
    let init: number;
    try {
      init = fn.cc_initialize(c, out[0], princ) as number;
    } finally {
      fn.free_principal(c, princ);
    }
    const minor = [0];
    const major = init === 0 ? (gss().krb5_copy_ccache(minor, cred, out[0]) as number) : 0;
    if (init !== 0 || major & GSS.ERROR_MASK) {
      fn.cc_destroy(c, out[0]);
      throw new Krb5BridgeError('E_KRB5', init !== 0 ? `krb5_cc_initialize ${name}: ${errorMessage(init)}` : `gss_krb5_copy_ccache: ${statusText(major, minor[0]!)}`);
    }
    fn.cc_close(c, out[0]);
    return name;
  }

  close(): void {
    if (this.cred) gss().release_cred([0], [this.cred]);
    this.cred = undefined;
  }
}

/** A gss_OID_desc in C memory for DER contents `der`; free both pointers. */
function oid(der: Buffer): { p: Ptr; bytes: Ptr } {
  const bytes = cAlloc(der.length);
  copyIn(bytes, der);
  const p = cAlloc(koffi.sizeof(GssOid));
  koffi.encode(p, GssOid, { length: der.length, elements: bytes });
  return { p, bytes };
}

/**
 * The client's side (krb5bridge submit --negotiate): one SPNEGO token for HTTP@`host`, from the
 * default ccache, asking for delegation (the gateway needs the TGT) and mutual authentication.
 */
export function initiateSpnego(host: string): Buffer {
  const g = gss();
  const name = inBuffer(Buffer.from(`HTTP@${host}`, 'utf8'));
  const nt = oid(GSS.OID_HOSTBASED_SERVICE);
  const mech = oid(GSS.OID_SPNEGO);
  const output = cAlloc(koffi.sizeof(GssBuffer));
  const target: [Ptr | null] = [null];
  const context: [Ptr | null] = [null];
  try {
    const minor = [0];
    let major = g.import_name(minor, name.p, nt.p, target) as number;
    if (major & GSS.ERROR_MASK) throw new Krb5BridgeError('E_AUTH', `gss_import_name HTTP@${host}: ${statusText(major, minor[0]!)}`);
    major = g.init_sec_context(minor, null, context, target[0], mech.p, GSS.C_DELEG_FLAG | GSS.C_MUTUAL_FLAG, 0, null, null, null, output, [0], null) as number;
    if (major & GSS.ERROR_MASK) throw new Krb5BridgeError('E_NO_TICKET', `cannot make a Kerberos token for HTTP@${host}: ${statusText(major, minor[0]!)}; run kinit -f`);
    const out = koffi.decode(output, GssBuffer) as { length: number; value: Ptr | null };
    if (!out.value || out.length === 0) throw new Krb5BridgeError('E_AUTH', 'gss_init_sec_context made an empty token');
    return copyOut(out.value, Number(out.length));
  } finally {
    const m = [0];
    if (context[0]) g.delete_sec_context(m, context, null);
    if (target[0]) g.release_name(m, target);
    g.release_buffer(m, output);
    for (const p of [output, mech.p, mech.bytes, nt.p, nt.bytes, name.bytes, name.p]) cFree(p);
  }
}
