/**
 * Kerberos AP exchange and KRB-PRIV messages through the real libkrb5: what the store's krb5
 * mode is built on (docs/internals.md, "Wire protocol, krb5 mode").
 *
 * Why the raw krb5 API and not GSSAPI: the helper already binds libkrb5 (one context, ccache
 * code, error messages); krb5_mk_req_extended/krb5_rd_req/krb5_mk_rep/krb5_rd_rep and
 * krb5_mk_priv/krb5_rd_priv give exactly the guarantees we need (mutual authentication, a fresh
 * per-connection subkey, sequence numbers, the server's replay cache) with plain pointers and
 * krb5_data, and let us name the exact service principal and keytab per call. GSSAPI would add a
 * second library, OID and buffer marshalling, and cred_store key/value arrays for the keytab and
 * MEMORY ccache, for the same underlying messages. No crypto or ASN.1 is done here: libkrb5 makes
 * and checks every byte.
 *
 * One auth context per connection. Both sides use the client's random subkey (AP_OPTS_USE_SUBKEY)
 * for KRB-PRIV, so messages of one connection cannot be replayed into another, and sequence
 * numbers (KRB5_AUTH_CONTEXT_DO_SEQUENCE) refuse a replayed, dropped or reordered message.
 * Everything is synchronous on the calling thread: a krb5_context must not be used by two
 * threads at once.
 */
import { lstatSync } from 'node:fs';
import { Krb5BridgeError } from '../errors';
import { KrbCreds, KrbData, Ptr, cAlloc, cFree, cWipe, check, copyIn, copyOut, ctx, errorMessage, fn, koffi, outPtr, unparse } from './lib';

const lib = koffi.load('libkrb5.so.3');
const k = {
  kt_resolve: lib.func('int krb5_kt_resolve(void *ctx, const char *name, _Out_ void **kt)'),
  kt_close: lib.func('int krb5_kt_close(void *ctx, void *kt)'),
  kt_get_entry: lib.func('int krb5_kt_get_entry(void *ctx, void *kt, void *princ, uint32 vno, int32 enctype, void *entry)'),
  kt_free_entry: lib.func('int krb5_free_keytab_entry_contents(void *ctx, void *entry)'),
  sname_to_principal: lib.func('int krb5_sname_to_principal(void *ctx, const char *host, const char *sname, int32 type, _Out_ void **princ)'),
  gic_opt_alloc: lib.func('int krb5_get_init_creds_opt_alloc(void *ctx, _Out_ void **opt)'),
  gic_opt_free: lib.func('void krb5_get_init_creds_opt_free(void *ctx, void *opt)'),
  gic_keytab: lib.func('int krb5_get_init_creds_keytab(void *ctx, void *creds, void *client, void *kt, int32 start, const char *svc, void *opt)'),
  cc_new_unique: lib.func('int krb5_cc_new_unique(void *ctx, const char *type, const char *hint, _Out_ void **cc)'),
  cc_destroy: lib.func('int krb5_cc_destroy(void *ctx, void *cc)'),
  get_credentials: lib.func('int krb5_get_credentials(void *ctx, int32 options, void *cc, void *in, _Out_ void **out)'),
  free_creds: lib.func('void krb5_free_creds(void *ctx, void *creds)'),
  mk_req_extended: lib.func('int krb5_mk_req_extended(void *ctx, _Inout_ void **ac, int32 opts, void *in_data, void *creds, void *outbuf)'),
  rd_rep: lib.func('int krb5_rd_rep(void *ctx, void *ac, void *inbuf, _Out_ void **repl)'),
  free_ap_rep_enc_part: lib.func('void krb5_free_ap_rep_enc_part(void *ctx, void *p)'),
  rd_req: lib.func('int krb5_rd_req(void *ctx, _Inout_ void **ac, void *inbuf, void *server, void *kt, void *ap_req_options, _Out_ void **ticket)'),
  free_ticket: lib.func('void krb5_free_ticket(void *ctx, void *t)'),
  mk_rep: lib.func('int krb5_mk_rep(void *ctx, void *ac, void *outbuf)'),
  mk_priv: lib.func('int krb5_mk_priv(void *ctx, void *ac, void *in, void *out, void *replay)'),
  rd_priv: lib.func('int krb5_rd_priv(void *ctx, void *ac, void *in, void *out, void *replay)'),
  setaddrs: lib.func('int krb5_auth_con_setaddrs(void *ctx, void *ac, void *local, void *remote)'),
  getauthenticator: lib.func('int krb5_auth_con_getauthenticator(void *ctx, void *ac, _Out_ void **a)'),
  free_authenticator: lib.func('void krb5_free_authenticator(void *ctx, void *a)'),
  free_data_contents: lib.func('void krb5_free_data_contents(void *ctx, void *d)'),
};

// krb5.h constants.
const AP_OPTS_MUTUAL_REQUIRED = 0x20000000;
const AP_OPTS_USE_SUBKEY = 0x00000001;
const AUTH_CONTEXT_DO_TIME = 0x1;
const AUTH_CONTEXT_DO_SEQUENCE = 0x4;
const NT_SRV_HST = 3;
/** krb5_keytab_entry is 48 bytes on LP64; kt_get_entry fills it, we only free it. */
const KT_ENTRY_SIZE = 64;

/** libkrb5 error codes the store tells apart in its messages. */
export const KRB5_AP = {
  REPEAT: -1765328350, // KRB5KRB_AP_ERR_REPEAT: a replayed authenticator
  SKEW: -1765328347, // KRB5KRB_AP_ERR_SKEW
  BAD_INTEGRITY: -1765328353, // KRB5KRB_AP_ERR_BAD_INTEGRITY
  BADORDER: -1765328342, // KRB5KRB_AP_ERR_BADORDER: sequence number out of order
  TKT_EXPIRED: -1765328352, // KRB5KRB_AP_ERR_TKT_EXPIRED
  S_PRINCIPAL_UNKNOWN: -1765328377, // KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN
  C_PRINCIPAL_UNKNOWN: -1765328378, // KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN
  NOTFOUND_KT: -1765328203, // KRB5_KT_NOTFOUND
  KT_NOTFOUND_FILE: 2, // ENOENT from a FILE keytab
} as const;

/**
 * krb5_mk_priv needs a sender address. Real IP addresses mean nothing across NAT and proxies (the
 * subkey and sequence numbers are the protection), so each direction gets a fixed pseudo-address:
 * krb5_rd_priv then also refuses a message reflected back to its sender.
 */
const KrbAddress = koffi.struct({ magic: 'int32', addrtype: 'int32', length: 'uint32', contents: 'void *' });
const ADDRTYPE_INET = 2;
function pseudoAddress(last: number): Ptr {
  const bytes = cAlloc(4);
  copyIn(bytes, Buffer.from([0, 0, 0, last]));
  const a = cAlloc(koffi.sizeof(KrbAddress));
  koffi.encode(a, KrbAddress, { magic: 0, addrtype: ADDRTYPE_INET, length: 4, contents: bytes });
  return a;
}
let addrs: { client: Ptr; server: Ptr } | undefined;
function setDirection(ac: Ptr, side: 'client' | 'server'): void {
  addrs ??= { client: pseudoAddress(1), server: pseudoAddress(2) };
  const [local, remote] = side === 'client' ? [addrs.client, addrs.server] : [addrs.server, addrs.client];
  check('krb5_auth_con_setaddrs', k.setaddrs(ctx(), ac, local, remote) as number);
}

/** Largest AP-REQ / AP-REP / KRB-PRIV we hand to libkrb5 (a frame is at most 1 MiB anyway). */
const MAX_MESSAGE = 1024 * 1024 + 4096;

/** A krb5_data in C memory holding a copy of `buf`; free with freeInData. */
function inData(buf: Buffer): { data: Ptr; bytes: Ptr; len: number } {
  const bytes = cAlloc(Math.max(1, buf.length));
  copyIn(bytes, buf);
  const data = cAlloc(koffi.sizeof(KrbData));
  koffi.encode(data, KrbData, { magic: 0, length: buf.length, data: bytes });
  return { data, bytes, len: buf.length };
}

function freeInData(d: { data: Ptr; bytes: Ptr; len: number }, wipe = false): void {
  if (wipe) cWipe(d.bytes, d.len);
  cFree(d.bytes);
  cFree(d.data);
}

/** An empty krb5_data the library fills; takeOut copies it out and frees the contents. */
function outData(): Ptr {
  return cAlloc(koffi.sizeof(KrbData));
}

function takeOut(d: Ptr, wipe = false): Buffer {
  const v = koffi.decode(d, KrbData) as { length: number; data: Ptr | null };
  try {
    if (!v.data) return Buffer.alloc(0);
    const out = copyOut(v.data, v.length);
    if (wipe) cWipe(v.data, v.length);
    return out;
  } finally {
    k.free_data_contents(ctx(), d);
    cFree(d);
  }
}

function authError(call: string, code: number, what: string): Krb5BridgeError {
  let why = errorMessage(code);
  if (code === KRB5_AP.REPEAT) why = `replayed authentication (${why})`;
  else if (code === KRB5_AP.BADORDER) why = `message out of sequence: replayed, dropped or reordered (${why})`;
  else if (code === KRB5_AP.BAD_INTEGRITY) why = `integrity check failed: tampered message or wrong key (${why})`;
  return new Krb5BridgeError('E_AUTH', `${what}: ${call}: ${why} [${code}]`);
}

export function parsePrincipal(name: string): Ptr {
  const c = ctx();
  return outPtr((o) => fn.parse_name(c, name, o), 'krb5_parse_name', name);
}

/** `SERVICE/<this host's name>` as libkrb5 names it (krb5_sname_to_principal, like sshd's host/...). */
export function hostServicePrincipal(service: string, host: string | null = null): string {
  const c = ctx();
  const p = outPtr((o) => k.sname_to_principal(c, host, service, NT_SRV_HST, o), 'krb5_sname_to_principal', `${service}/${host ?? '(this host)'}`);
  try {
    return unparse(p);
  } finally {
    fn.free_principal(c, p);
  }
}

// ------------------------------------------------------------------ keytabs

/**
 * A keytab that holds `principal`'s key, checked once: a keytab file must be a regular file
 * owned by root (or us) and not readable by group or others, since it is the key of a service.
 */
export class Keytab {
  private constructor(
    readonly name: string,
    readonly handle: Ptr,
  ) {}

  static open(path: string, principal: string, purpose: string): Keytab {
    if (!path.startsWith('/')) throw new Krb5BridgeError('E_CONFIG', `${purpose} keytab must be an absolute path, got "${path}"`);
    let st;
    try {
      st = lstatSync(path);
    } catch (e) {
      throw new Krb5BridgeError('E_CONFIG', `${purpose} keytab ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}; create it with kadmin ktadd`, { cause: e });
    }
    const me = process.getuid?.() ?? 0;
    if (!st.isFile()) throw new Krb5BridgeError('E_CONFIG', `${purpose} keytab ${path} is not a regular file`);
    if (st.uid !== 0 && st.uid !== me) throw new Krb5BridgeError('E_CONFIG', `${purpose} keytab ${path} is owned by uid ${st.uid}; it must belong to root`);
    if ((st.mode & 0o077) !== 0) {
      throw new Krb5BridgeError('E_CONFIG', `${purpose} keytab ${path} has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}; run chmod 600 ${path}`);
    }
    const c = ctx();
    const kt = outPtr((o) => k.kt_resolve(c, `FILE:${path}`, o), 'krb5_kt_resolve', path);
    const keytab = new Keytab(path, kt);
    const princ = parsePrincipal(principal);
    const entry = cAlloc(KT_ENTRY_SIZE);
    try {
      const code = k.kt_get_entry(c, kt, princ, 0, 0, entry) as number;
      if (code !== 0) {
        keytab.close();
        throw new Krb5BridgeError('E_CONFIG', `${purpose} keytab ${path} holds no key for ${principal}: ${errorMessage(code)}; add one with kadmin ktadd -k ${path} ${principal}`);
      }
      k.kt_free_entry(c, entry);
    } finally {
      cFree(entry);
      fn.free_principal(c, princ);
    }
    return keytab;
  }

  close(): void {
    k.kt_close(ctx(), this.handle);
  }
}

// ------------------------------------------------------------------ client credentials

/** Where a client's identity comes from: a ccache (the user's TGT) or a keytab (the node's host key). */
export type ClientIdentity = { kind: 'ccache'; ccache?: string | undefined } | { kind: 'keytab'; keytab: string; principal: string };

interface HostCache {
  cc: Ptr;
  endtime: number;
}

/** MEMORY ccaches of keytab identities, per process: a keeper fetching often asks the KDC once per TGT life. */
const hostCaches = new Map<string, HostCache>();

/** krb5_get_init_creds_keytab into a fresh MEMORY ccache (never a file: nothing of the host key lands on disk). */
function hostCcache(keytabPath: string, principal: string): Ptr {
  const key = `${keytabPath}\0${principal}`;
  const now = Math.floor(Date.now() / 1000);
  const hit = hostCaches.get(key);
  if (hit && hit.endtime > now + 60) return hit.cc;
  if (hit) {
    k.cc_destroy(ctx(), hit.cc);
    hostCaches.delete(key);
  }
  const c = ctx();
  const kt = Keytab.open(keytabPath, principal, 'client');
  const princ = parsePrincipal(principal);
  const creds = cAlloc(koffi.sizeof(KrbCreds));
  const opt = outPtr((o) => k.gic_opt_alloc(c, o), 'krb5_get_init_creds_opt_alloc');
  let cc: Ptr | undefined;
  try {
    const code = k.gic_keytab(c, creds, princ, kt.handle, 0, null, opt) as number;
    if (code !== 0) throw new Krb5BridgeError('E_AUTH', `cannot get a ticket for ${principal} from keytab ${keytabPath}: ${errorMessage(code)} [${code}]`);
    const endtime = (koffi.decode(creds, KrbCreds) as { times: { endtime: number } }).times.endtime;
    cc = outPtr((o) => k.cc_new_unique(c, 'MEMORY', null, o), 'krb5_cc_new_unique');
    check('krb5_cc_initialize', fn.cc_initialize(c, cc, princ));
    check('krb5_cc_store_cred', fn.cc_store_cred(c, cc, creds));
    hostCaches.set(key, { cc, endtime });
    const done = cc;
    cc = undefined;
    return done;
  } finally {
    if (cc !== undefined) k.cc_destroy(c, cc);
    fn.free_cred_contents(c, creds);
    cFree(creds);
    k.gic_opt_free(c, opt);
    fn.free_principal(c, princ);
    kt.close();
  }
}

/** Forget the cached host ticket of a keytab identity (after the KDC or store refused it). */
export function dropHostCache(): void {
  for (const h of hostCaches.values()) k.cc_destroy(ctx(), h.cc);
  hostCaches.clear();
}

/** A service ticket for `service` from the identity's ccache (krb5_get_credentials: cached or from the KDC). */
function serviceCreds(identity: ClientIdentity, service: string): { creds: Ptr; client: string } {
  const c = ctx();
  let cc: Ptr;
  let close = false;
  if (identity.kind === 'keytab') cc = hostCcache(identity.keytab, identity.principal);
  else {
    const out: [Ptr | null] = [null];
    const code = (identity.ccache === undefined ? fn.cc_default(c, out) : fn.cc_resolve(c, identity.ccache, out)) as number;
    if (code !== 0 || !out[0]) throw new Krb5BridgeError('E_NO_TICKET', `cannot resolve credential cache ${identity.ccache ?? '(default)'}: ${errorMessage(code)}`);
    cc = out[0];
    close = true;
  }
  const inCreds = cAlloc(koffi.sizeof(KrbCreds));
  let client: Ptr | undefined;
  let server: Ptr | undefined;
  try {
    const pOut: [Ptr | null] = [null];
    const pc = fn.cc_get_principal(c, cc, pOut) as number;
    if (pc !== 0 || !pOut[0]) throw new Krb5BridgeError('E_NO_TICKET', `credential cache ${identity.kind === 'ccache' ? (identity.ccache ?? '(default)') : 'of the host keytab'}: ${errorMessage(pc)}; run kinit`);
    client = pOut[0];
    server = parsePrincipal(service);
    koffi.encode(inCreds, 8, 'void *', client);
    koffi.encode(inCreds, 16, 'void *', server);
    const out: [Ptr | null] = [null];
    const code = k.get_credentials(c, 0, cc, inCreds, out) as number;
    const who = unparse(client);
    if (code === KRB5_AP.S_PRINCIPAL_UNKNOWN) {
      throw new Krb5BridgeError('E_AUTH', `the KDC does not know the store principal ${service}; check store_principal in the config`);
    }
    if (code === KRB5_AP.TKT_EXPIRED) throw new Krb5BridgeError('E_TICKET_EXPIRED', `the ticket of ${who} has expired: ${errorMessage(code)}`);
    if (code !== 0 || !out[0]) {
      throw new Krb5BridgeError(identity.kind === 'ccache' ? 'E_NO_TICKET' : 'E_AUTH', `cannot get a ticket for ${service} as ${who}: ${errorMessage(code)} [${code}]`);
    }
    return { creds: out[0], client: who };
  } finally {
    cFree(inCreds);
    if (client) fn.free_principal(c, client);
    if (server) fn.free_principal(c, server);
    if (close) fn.cc_close(c, cc);
  }
}

// ------------------------------------------------------------------ sessions

/** One authenticated connection's auth context: seal/open KRB-PRIV messages with sequence numbers. */
class ApSession {
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
      const code = k.mk_priv(c, this.handle, input.data, out, null) as number;
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
      const code = k.rd_priv(c, this.handle, input.data, out, null) as number;
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

/** The client's side: AP-REQ out, AP-REP checked (mutual authentication), then KRB-PRIV. */
export class ApClient extends ApSession {
  /** The client principal we authenticated as. */
  readonly client: string;

  private constructor(ac: Ptr, client: string) {
    super(ac);
    this.client = client;
  }

  /** Make an AP-REQ for `service` (mutual authentication required, a fresh subkey); returns it with the session. */
  static start(identity: ClientIdentity, service: string): { session: ApClient; apReq: Buffer } {
    const c = ctx();
    const { creds, client } = serviceCreds(identity, service);
    const acOut: [Ptr | null] = [null];
    try {
      acOut[0] = outPtr((o) => fn.auth_con_init(c, o), 'krb5_auth_con_init');
      check('krb5_auth_con_setflags', fn.auth_con_setflags(c, acOut[0], AUTH_CONTEXT_DO_SEQUENCE));
      const out = outData();
      const code = k.mk_req_extended(c, acOut, AP_OPTS_MUTUAL_REQUIRED | AP_OPTS_USE_SUBKEY, null, creds, out) as number;
      if (code !== 0) {
        cFree(out);
        throw new Krb5BridgeError('E_KRB5', `krb5_mk_req_extended for ${service}: ${errorMessage(code)} [${code}]`);
      }
      const apReq = takeOut(out);
      setDirection(acOut[0]!, 'client');
      const session = new ApClient(acOut[0]!, client);
      acOut[0] = null;
      return { session, apReq };
    } finally {
      if (acOut[0]) fn.auth_con_free(c, acOut[0]);
      k.free_creds(c, creds);
    }
  }

  /**
   * krb5_rd_rep: only a server that decrypted our ticket with the service key knows the session
   * key that the AP-REP is encrypted in. Anything else is E_AUTH, and the caller sends nothing more.
   */
  verifyReply(apRep: Buffer, service: string): void {
    if (apRep.length === 0 || apRep.length > MAX_MESSAGE) throw new Krb5BridgeError('E_AUTH', `the store did not prove it is ${service}: reply of ${apRep.length} bytes`);
    const c = ctx();
    const input = inData(apRep);
    try {
      const out: [Ptr | null] = [null];
      const code = k.rd_rep(c, this.handle, input.data, out) as number;
      if (code !== 0) throw authError('krb5_rd_rep', code, `the store did not prove it is ${service} (mutual authentication failed)`);
      if (out[0]) k.free_ap_rep_enc_part(c, out[0]);
    } finally {
      freeInData(input);
    }
  }
}

/** The store's side: AP-REQ checked against the service keytab and the replay cache, AP-REP made. */
export class ApServer extends ApSession {
  readonly client: string;

  private constructor(ac: Ptr, client: string) {
    super(ac);
    this.client = client;
  }

  /**
   * krb5_rd_req for exactly `service` from `keytab` (the default replay cache refuses a replayed
   * authenticator), then krb5_mk_rep. Returns the session, the client principal and the AP-REP.
   */
  static accept(apReq: Buffer, service: Ptr, keytab: Keytab): { session: ApServer; client: string; apRep: Buffer } {
    if (apReq.length === 0 || apReq.length > MAX_MESSAGE) throw new Krb5BridgeError('E_AUTH', `AP-REQ of ${apReq.length} bytes`);
    const c = ctx();
    const acOut: [Ptr | null] = [null];
    const input = inData(apReq);
    try {
      acOut[0] = outPtr((o) => fn.auth_con_init(c, o), 'krb5_auth_con_init');
      // DO_TIME makes krb5_rd_req use the replay cache for the authenticator.
      check('krb5_auth_con_setflags', fn.auth_con_setflags(c, acOut[0], AUTH_CONTEXT_DO_TIME | AUTH_CONTEXT_DO_SEQUENCE));
      const tOut: [Ptr | null] = [null];
      const code = k.rd_req(c, acOut, input.data, service, keytab.handle, null, tOut) as number;
      if (code !== 0) throw authError('krb5_rd_req', code, 'the client could not be authenticated');
      if (tOut[0]) k.free_ticket(c, tOut[0]);
      const aOut: [Ptr | null] = [null];
      check('krb5_auth_con_getauthenticator', k.getauthenticator(c, acOut[0], aOut) as number);
      let client: string;
      try {
        // krb5_authenticator: { magic; krb5_principal client; ... } on LP64, client at offset 8.
        client = unparse(koffi.decode(aOut[0], 8, 'void *') as Ptr);
      } finally {
        k.free_authenticator(c, aOut[0]);
      }
      // KRB-PRIV messages are protected by sequence numbers on the subkey; no per-message timestamps.
      check('krb5_auth_con_setflags', fn.auth_con_setflags(c, acOut[0], AUTH_CONTEXT_DO_SEQUENCE));
      setDirection(acOut[0]!, 'server');
      const out = outData();
      const rc = k.mk_rep(c, acOut[0], out) as number;
      if (rc !== 0) {
        cFree(out);
        throw new Krb5BridgeError('E_KRB5', `krb5_mk_rep: ${errorMessage(rc)} [${rc}]`);
      }
      const apRep = takeOut(out);
      const session = new ApServer(acOut[0]!, client);
      acOut[0] = null;
      return { session, client, apRep };
    } finally {
      if (acOut[0]) fn.auth_con_free(c, acOut[0]);
      freeInData(input);
    }
  }
}
