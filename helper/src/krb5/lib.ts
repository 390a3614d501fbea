/**
 * The one binding table of the system libkrb5 (MIT, x86_64 layout checked against krb5.h of
 * 1.20): every libkrb5 function the helper calls is declared here, once, with the structure types
 * it needs. One context per process for calls on the main thread, created on first use
 * (`ctx()`); code that runs calls on a worker thread makes its own with `newContext()` (a
 * krb5_context must not be used by two threads at once). Every call that fails becomes E_KRB5
 * with libkrb5's own message (krb5_get_error_message) in the details.
 */
import koffi from 'koffi';
import { Krb5BridgeError } from '../errors';
import { libc, type Ptr } from '../sys/libc';

export type { Ptr } from '../sys/libc';

const lib = koffi.load('libkrb5.so.3');

// Anonymous structs: jest loads this module once per test file into one process, and koffi
// refuses a second type of the same name.
/** krb5_data: {magic, length, data}. */
export const KrbData = koffi.struct({ magic: 'int32', length: 'uint32', data: 'void *' });
/** krb5_keyblock. */
const KrbKeyblock = koffi.struct({ magic: 'int32', enctype: 'int32', length: 'uint32', contents: 'void *' });
/** Times are krb5_int32 in the header; libkrb5 treats them as unsigned (post-2038 safe). */
const KrbTimes = koffi.struct({ authtime: 'uint32', starttime: 'uint32', endtime: 'uint32', renew_till: 'uint32' });
/** krb5_creds. */
export const KrbCreds = koffi.struct({
  magic: 'int32',
  client: 'void *',
  server: 'void *',
  keyblock: KrbKeyblock,
  times: KrbTimes,
  is_skey: 'int',
  ticket_flags: 'int32',
  addresses: 'void *',
  ticket: KrbData,
  second_ticket: KrbData,
  authdata: 'void *',
});
/** krb5_address. */
export const KrbAddress = koffi.struct({ magic: 'int32', addrtype: 'int32', length: 'uint32', contents: 'void *' });
/** krb5_keytab_entry (krb5_kt_get_entry fills it; only freed here). */
export const KrbKeytabEntry = koffi.struct({ magic: 'int32', principal: 'void *', timestamp: 'uint32', vno: 'uint32', key: KrbKeyblock });
/** krb5_authenticator (only `client` is read). */
export const KrbAuthenticator = koffi.struct({
  magic: 'int32',
  client: 'void *',
  checksum: 'void *',
  cusec: 'int32',
  ctime: 'int32',
  subkey: 'void *',
  seq_number: 'uint32',
  authorization_data: 'void *',
});
// A wrong layout would corrupt memory silently; refuse to run instead.
if (
  koffi.sizeof(KrbCreds) !== 120 ||
  koffi.offsetof(KrbCreds, 'times') !== 48 ||
  koffi.offsetof(KrbCreds, 'ticket') !== 80 ||
  koffi.sizeof(KrbKeytabEntry) !== 48 ||
  koffi.offsetof(KrbAuthenticator, 'client') !== 8
) {
  throw new Krb5BridgeError('E_INTERNAL', `unexpected krb5 structure layout (krb5_creds ${koffi.sizeof(KrbCreds)} bytes); this build supports x86_64/aarch64 LP64 only`);
}

export interface DecodedCreds {
  client: Ptr;
  server: Ptr;
  times: { authtime: number; starttime: number; endtime: number; renew_till: number };
  ticket_flags: number;
}

/** A function that can also run on koffi's worker threads (KDC exchanges). */
export interface AsyncKrbFn {
  (...args: unknown[]): unknown;
  async: (...args: unknown[]) => void;
}

export const fn = {
  // contexts and errors
  init_context: lib.func('int krb5_init_context(_Out_ void **ctx)'),
  get_error_message: lib.func('void *krb5_get_error_message(void *ctx, int code)'),
  free_error_message: lib.func('void krb5_free_error_message(void *ctx, void *msg)'),

  // credential caches
  cc_default: lib.func('int krb5_cc_default(void *ctx, _Out_ void **cc)'),
  cc_resolve: lib.func('int krb5_cc_resolve(void *ctx, const char *name, _Out_ void **cc)'),
  cc_new_unique: lib.func('int krb5_cc_new_unique(void *ctx, const char *type, const char *hint, _Out_ void **cc)'),
  cc_close: lib.func('int krb5_cc_close(void *ctx, void *cc)'),
  cc_destroy: lib.func('int krb5_cc_destroy(void *ctx, void *cc)'),
  cc_get_full_name: lib.func('int krb5_cc_get_full_name(void *ctx, void *cc, _Out_ void **name)'),
  cc_get_principal: lib.func('int krb5_cc_get_principal(void *ctx, void *cc, _Out_ void **princ)'),
  cc_start_seq_get: lib.func('int krb5_cc_start_seq_get(void *ctx, void *cc, _Out_ void **cursor)'),
  cc_next_cred: lib.func('int krb5_cc_next_cred(void *ctx, void *cc, _Inout_ void **cursor, void *creds)'),
  cc_end_seq_get: lib.func('int krb5_cc_end_seq_get(void *ctx, void *cc, _Inout_ void **cursor)'),
  cc_initialize: lib.func('int krb5_cc_initialize(void *ctx, void *cc, void *princ)'),
  cc_store_cred: lib.func('int krb5_cc_store_cred(void *ctx, void *cc, void *creds)'),

  // freeing what the library returns
  free_string: lib.func('void krb5_free_string(void *ctx, void *s)'),
  free_principal: lib.func('void krb5_free_principal(void *ctx, void *princ)'),
  free_cred_contents: lib.func('void krb5_free_cred_contents(void *ctx, void *creds)'),
  free_creds: lib.func('void krb5_free_creds(void *ctx, void *creds)'),
  free_tgt_creds: lib.func('void krb5_free_tgt_creds(void *ctx, void *creds)'),
  free_data: lib.func('void krb5_free_data(void *ctx, void *data)'),
  free_data_contents: lib.func('void krb5_free_data_contents(void *ctx, void *d)'),
  free_ticket: lib.func('void krb5_free_ticket(void *ctx, void *t)'),
  free_authenticator: lib.func('void krb5_free_authenticator(void *ctx, void *a)'),
  free_ap_rep_enc_part: lib.func('void krb5_free_ap_rep_enc_part(void *ctx, void *p)'),
  free_keytab_entry_contents: lib.func('int krb5_free_keytab_entry_contents(void *ctx, void *entry)'),

  // principals and local names
  parse_name: lib.func('int krb5_parse_name(void *ctx, const char *name, _Out_ void **princ)'),
  unparse_name: lib.func('int krb5_unparse_name(void *ctx, void *princ, _Out_ void **name)'),
  free_unparsed_name: lib.func('void krb5_free_unparsed_name(void *ctx, void *name)'),
  principal_compare: lib.func('int krb5_principal_compare(void *ctx, void *a, void *b)'),
  is_config_principal: lib.func('int krb5_is_config_principal(void *ctx, void *princ)'),
  aname_to_localname: lib.func('int krb5_aname_to_localname(void *ctx, void *princ, int lnsize, _Out_ uint8_t *lname)'),
  sname_to_principal: lib.func('int krb5_sname_to_principal(void *ctx, const char *host, const char *sname, int32 type, _Out_ void **princ)'),

  // auth contexts, KRB-CRED, AP exchange, KRB-PRIV
  auth_con_init: lib.func('int krb5_auth_con_init(void *ctx, _Out_ void **ac)'),
  auth_con_free: lib.func('int krb5_auth_con_free(void *ctx, void *ac)'),
  auth_con_setflags: lib.func('int krb5_auth_con_setflags(void *ctx, void *ac, int32 flags)'),
  auth_con_setaddrs: lib.func('int krb5_auth_con_setaddrs(void *ctx, void *ac, void *local, void *remote)'),
  auth_con_getauthenticator: lib.func('int krb5_auth_con_getauthenticator(void *ctx, void *ac, _Out_ void **a)'),
  mk_ncred: lib.func('int krb5_mk_ncred(void *ctx, void *ac, void *creds, _Out_ void **der, void *rdata)'),
  rd_cred: lib.func('int krb5_rd_cred(void *ctx, void *ac, void *data, _Out_ void **creds, void *rdata)'),
  mk_req_extended: lib.func('int krb5_mk_req_extended(void *ctx, _Inout_ void **ac, int32 opts, void *in_data, void *creds, void *outbuf)'),
  rd_req: lib.func('int krb5_rd_req(void *ctx, _Inout_ void **ac, void *inbuf, void *server, void *kt, void *ap_req_options, _Out_ void **ticket)'),
  mk_rep: lib.func('int krb5_mk_rep(void *ctx, void *ac, void *outbuf)'),
  rd_rep: lib.func('int krb5_rd_rep(void *ctx, void *ac, void *inbuf, _Out_ void **repl)'),
  mk_priv: lib.func('int krb5_mk_priv(void *ctx, void *ac, void *in, void *out, void *replay)'),
  rd_priv: lib.func('int krb5_rd_priv(void *ctx, void *ac, void *in, void *out, void *replay)'),

  // keytabs and getting tickets (KDC exchanges: AsyncKrbFn where a daemon calls them)
  kt_resolve: lib.func('int krb5_kt_resolve(void *ctx, const char *name, _Out_ void **kt)'),
  kt_close: lib.func('int krb5_kt_close(void *ctx, void *kt)'),
  kt_get_entry: lib.func('int krb5_kt_get_entry(void *ctx, void *kt, void *princ, uint32 vno, int32 enctype, void *entry)'),
  get_init_creds_opt_alloc: lib.func('int krb5_get_init_creds_opt_alloc(void *ctx, _Out_ void **opt)'),
  get_init_creds_opt_free: lib.func('void krb5_get_init_creds_opt_free(void *ctx, void *opt)'),
  get_init_creds_keytab: lib.func('int krb5_get_init_creds_keytab(void *ctx, void *creds, void *client, void *kt, int32 start, const char *svc, void *opt)') as unknown as AsyncKrbFn,
  get_credentials: lib.func('int krb5_get_credentials(void *ctx, int32 options, void *cc, void *in, _Out_ void **out)') as unknown as AsyncKrbFn,
  get_renewed_creds: lib.func('int krb5_get_renewed_creds(void *ctx, void *creds, void *client, void *cc, const char *service)') as unknown as AsyncKrbFn,

  // password login (the gateway, krb5/password.ts): the password is a NUL-terminated C buffer we wipe
  get_init_creds_opt_set_tkt_life: lib.func('void krb5_get_init_creds_opt_set_tkt_life(void *opt, int32 life)'),
  get_init_creds_opt_set_renew_life: lib.func('void krb5_get_init_creds_opt_set_renew_life(void *opt, int32 life)'),
  get_init_creds_opt_set_forwardable: lib.func('void krb5_get_init_creds_opt_set_forwardable(void *opt, int forwardable)'),
  get_init_creds_password: lib.func('int krb5_get_init_creds_password(void *ctx, void *creds, void *client, void *password, void *prompter, void *data, int32 start, const char *svc, void *opt)') as unknown as AsyncKrbFn,
  verify_init_creds_opt_init: lib.func('void krb5_verify_init_creds_opt_init(void *opt)'),
  verify_init_creds_opt_set_ap_req_nofail: lib.func('void krb5_verify_init_creds_opt_set_ap_req_nofail(void *opt, int nofail)'),
  verify_init_creds: lib.func('int krb5_verify_init_creds(void *ctx, void *creds, void *server, void *kt, void *ccache_out, void *opt)') as unknown as AsyncKrbFn,
  get_default_realm: lib.func('int krb5_get_default_realm(void *ctx, _Out_ void **realm)'),
  free_default_realm: lib.func('void krb5_free_default_realm(void *ctx, void *realm)'),
};

/** Error codes the helper tells apart (krb5.h / com_err tables). */
export const KRB5 = {
  CC_BADNAME: -1765328245,
  CC_UNKNOWN_TYPE: -1765328244,
  CC_NOTFOUND: -1765328243,
  CC_END: -1765328242,
  NO_LOCALNAME: -1765328227,
  LNAME_NOTRANS: -1765328208,
  FCC_NOFILE: -1765328189,
  CC_FORMAT: -1765328185,
  // the AP exchange and KRB-PRIV (the store's krb5 mode tells these apart in its messages)
  AP_ERR_REPEAT: -1765328350, // a replayed authenticator
  AP_ERR_SKEW: -1765328347,
  AP_ERR_BAD_INTEGRITY: -1765328353,
  AP_ERR_BADORDER: -1765328342, // sequence number out of order
  AP_ERR_TKT_EXPIRED: -1765328352,
  KDC_ERR_S_PRINCIPAL_UNKNOWN: -1765328377,
  KDC_ERR_C_PRINCIPAL_UNKNOWN: -1765328378,
  KT_NOTFOUND: -1765328203,
  // password login: a wrong password and an unknown user are told apart here, never to the caller
  KDC_ERR_PREAUTH_FAILED: -1765328360,
  KDC_ERR_KEY_EXP: -1765328361,
  KDC_ERR_CLIENT_REVOKED: -1765328366,
  KDC_ERR_POLICY: -1765328372,
  KDC_UNREACH: -1765328228,
} as const;

/** A new krb5_context (reads KRB5_CONFIG; root callers get a clean environment from the plugin). */
export function newContext(): Ptr {
  const out: [Ptr | null] = [null];
  const code = fn.init_context(out) as number;
  if (code !== 0 || !out[0]) throw new Krb5BridgeError('E_KRB5', `krb5_init_context failed with code ${code}; check KRB5_CONFIG / /etc/krb5.conf`);
  return out[0];
}

let context: Ptr | undefined;

/** The process's one krb5_context for calls on the main thread. */
export function ctx(): Ptr {
  context ??= newContext();
  return context;
}

/** libkrb5's message for an error code, freed properly. */
export function errorMessage(code: number): string {
  const c = ctx();
  const p = fn.get_error_message(c, code) as Ptr | null;
  if (!p) return `krb5 error ${code}`;
  try {
    return koffi.decode.string(p);
  } finally {
    fn.free_error_message(c, p);
  }
}

/** E_KRB5 naming the call, what it acted on, and libkrb5's message. */
export function krbError(call: string, code: number, what?: string): Krb5BridgeError {
  return new Krb5BridgeError('E_KRB5', `${call}${what ? ` (${what})` : ''}: ${errorMessage(code)} [${code}]`);
}

export function check(call: string, code: number, what?: string): void {
  if (code !== 0) throw krbError(call, code, what);
}

/** Run fn with one `_Out_ void **` slot; returns the pointer it received. */
export function outPtr(call: (out: [Ptr | null]) => number, name: string, what?: string): Ptr {
  const out: [Ptr | null] = [null];
  check(name, call(out), what);
  if (!out[0]) throw new Krb5BridgeError('E_KRB5', `${name}${what ? ` (${what})` : ''} returned no result`);
  return out[0];
}

export function unparse(princ: Ptr): string {
  const c = ctx();
  const p = outPtr((o) => fn.unparse_name(c, princ, o), 'krb5_unparse_name');
  try {
    return koffi.decode.string(p);
  } finally {
    fn.free_unparsed_name(c, p);
  }
}

// ------------------------------------------------------------------ C memory

/** Zeroed C memory; release with cFree. */
export function cAlloc(size: number): Ptr {
  const p = libc().calloc(1, size);
  if (!p) throw new Krb5BridgeError('E_INTERNAL', `out of memory allocating ${size} bytes`);
  return p;
}

export function cFree(p: Ptr): void {
  libc().free(p);
}

/** Wipe C memory that held key material. */
export function cWipe(p: Ptr, len: number): void {
  if (len > 0) libc().explicit_bzero(p, len);
}

/** Copy `len` bytes of C memory into a fresh Buffer. */
export function copyOut(ptr: Ptr, len: number): Buffer {
  const b = Buffer.alloc(len);
  if (len > 0) libc().memcpy(b, ptr, len);
  return b;
}

/** Copy a Buffer into C memory at ptr (which holds at least buf.length bytes). */
export function copyIn(ptr: Ptr, buf: Buffer): void {
  if (buf.length > 0) libc().memcpy(ptr, buf, buf.length);
}

// ------------------------------------------------------------------ krb5_data

export interface InData {
  data: Ptr;
  bytes: Ptr;
  len: number;
}

/** A krb5_data in C memory holding a copy of `buf`; free with freeInData (wipe: it held a secret). */
export function inData(buf: Buffer): InData {
  const bytes = cAlloc(Math.max(1, buf.length));
  copyIn(bytes, buf);
  const data = cAlloc(koffi.sizeof(KrbData));
  koffi.encode(data, KrbData, { magic: 0, length: buf.length, data: bytes });
  return { data, bytes, len: buf.length };
}

export function freeInData(d: InData, wipe = false): void {
  if (wipe) cWipe(d.bytes, d.len);
  cFree(d.bytes);
  cFree(d.data);
}

/** An empty krb5_data the library fills; takeOut copies it out and frees the contents. */
export function outData(): Ptr {
  return cAlloc(koffi.sizeof(KrbData));
}

export function takeOut(d: Ptr, wipe = false): Buffer {
  const v = koffi.decode(d, KrbData) as { length: number; data: Ptr | null };
  try {
    if (!v.data) return Buffer.alloc(0);
    const out = copyOut(v.data, v.length);
    if (wipe) cWipe(v.data, v.length);
    return out;
  } finally {
    fn.free_data_contents(ctx(), d);
    cFree(d);
  }
}

export { koffi };
