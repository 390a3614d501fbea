/**
 * koffi bindings to the system libkrb5 (MIT, x86_64 layout checked against krb5.h of 1.20).
 * Only what the helper needs. One context per process, created on first use; every call that
 * fails becomes E_KRB5 with libkrb5's own message (krb5_get_error_message) in the details.
 */
import koffi from 'koffi';
import { Krb5BridgeError } from '../errors';

export type Ptr = bigint;

const lib = koffi.load('libkrb5.so.3');

// Anonymous structs: jest loads this module once per test file into one process, and koffi
// refuses a second type of the same name.
/** krb5_data: {magic, length, data}. */
export const KrbData = koffi.struct({ magic: 'int32', length: 'uint32', data: 'void *' });
const KrbKeyblock = koffi.struct({ magic: 'int32', enctype: 'int32', length: 'uint32', contents: 'void *' });
/** Times are krb5_int32 in the header; libkrb5 treats them as unsigned (post-2038 safe). */
const KrbTimes = koffi.struct({ authtime: 'uint32', starttime: 'uint32', endtime: 'uint32', renew_till: 'uint32' });
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
// A wrong layout would corrupt memory silently; refuse to run instead.
if (koffi.sizeof(KrbCreds) !== 120 || koffi.offsetof(KrbCreds, 'times') !== 48 || koffi.offsetof(KrbCreds, 'ticket') !== 80) {
  throw new Krb5BridgeError('E_INTERNAL', `unexpected krb5_creds layout (size ${koffi.sizeof(KrbCreds)}); this build supports x86_64/aarch64 LP64 only`);
}

export interface DecodedCreds {
  client: Ptr;
  server: Ptr;
  times: { authtime: number; starttime: number; endtime: number; renew_till: number };
  ticket_flags: number;
}

export const fn = {
  init_context: lib.func('int krb5_init_context(_Out_ void **ctx)'),
  get_error_message: lib.func('void *krb5_get_error_message(void *ctx, int code)'),
  free_error_message: lib.func('void krb5_free_error_message(void *ctx, void *msg)'),

  cc_default: lib.func('int krb5_cc_default(void *ctx, _Out_ void **cc)'),
  cc_resolve: lib.func('int krb5_cc_resolve(void *ctx, const char *name, _Out_ void **cc)'),
  cc_close: lib.func('int krb5_cc_close(void *ctx, void *cc)'),
  cc_get_full_name: lib.func('int krb5_cc_get_full_name(void *ctx, void *cc, _Out_ void **name)'),
  cc_get_principal: lib.func('int krb5_cc_get_principal(void *ctx, void *cc, _Out_ void **princ)'),
  cc_start_seq_get: lib.func('int krb5_cc_start_seq_get(void *ctx, void *cc, _Out_ void **cursor)'),
  cc_next_cred: lib.func('int krb5_cc_next_cred(void *ctx, void *cc, _Inout_ void **cursor, void *creds)'),
  cc_end_seq_get: lib.func('int krb5_cc_end_seq_get(void *ctx, void *cc, _Inout_ void **cursor)'),
  cc_initialize: lib.func('int krb5_cc_initialize(void *ctx, void *cc, void *princ)'),
  cc_store_cred: lib.func('int krb5_cc_store_cred(void *ctx, void *cc, void *creds)'),

  free_string: lib.func('void krb5_free_string(void *ctx, void *s)'),
  free_principal: lib.func('void krb5_free_principal(void *ctx, void *princ)'),
  free_cred_contents: lib.func('void krb5_free_cred_contents(void *ctx, void *creds)'),
  free_tgt_creds: lib.func('void krb5_free_tgt_creds(void *ctx, void *creds)'),
  free_data: lib.func('void krb5_free_data(void *ctx, void *data)'),

  parse_name: lib.func('int krb5_parse_name(void *ctx, const char *name, _Out_ void **princ)'),
  unparse_name: lib.func('int krb5_unparse_name(void *ctx, void *princ, _Out_ void **name)'),
  free_unparsed_name: lib.func('void krb5_free_unparsed_name(void *ctx, void *name)'),
  principal_compare: lib.func('int krb5_principal_compare(void *ctx, void *a, void *b)'),
  is_config_principal: lib.func('int krb5_is_config_principal(void *ctx, void *princ)'),
  aname_to_localname: lib.func('int krb5_aname_to_localname(void *ctx, void *princ, int lnsize, _Out_ uint8_t *lname)'),

  auth_con_init: lib.func('int krb5_auth_con_init(void *ctx, _Out_ void **ac)'),
  auth_con_free: lib.func('int krb5_auth_con_free(void *ctx, void *ac)'),
  auth_con_setflags: lib.func('int krb5_auth_con_setflags(void *ctx, void *ac, int32 flags)'),
  mk_ncred: lib.func('int krb5_mk_ncred(void *ctx, void *ac, void *creds, _Out_ void **der, void *rdata)'),
  rd_cred: lib.func('int krb5_rd_cred(void *ctx, void *ac, void *data, _Out_ void **creds, void *rdata)'),
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
} as const;

let context: Ptr | undefined;

/** The process's one krb5_context (reads KRB5_CONFIG; root callers get a clean env from the plugin). */
export function ctx(): Ptr {
  if (context !== undefined) return context;
  const out: [Ptr | null] = [null];
  const code = fn.init_context(out) as number;
  if (code !== 0 || !out[0]) throw new Krb5BridgeError('E_KRB5', `krb5_init_context failed with code ${code}; check KRB5_CONFIG / /etc/krb5.conf`);
  context = out[0];
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

// C memory through libc, not koffi.alloc/koffi.view: each koffi.view kept ~200 bytes alive
// (measured: RSS grew linearly over 40,000 calls), which a long-running store cannot afford.
const libc = koffi.load('libc.so.6');
const mem = {
  calloc: libc.func('void *calloc(size_t n, size_t size)'),
  free: libc.func('void free(void *p)'),
  memcpy: libc.func('void *memcpy(void *dst, const void *src, size_t n)'),
  bzero: libc.func('void explicit_bzero(void *p, size_t n)'),
};

/** Zeroed C memory; release with cFree. */
export function cAlloc(size: number): Ptr {
  const p = mem.calloc(1, size) as Ptr | null;
  if (!p) throw new Krb5BridgeError('E_INTERNAL', `out of memory allocating ${size} bytes`);
  return p;
}

export function cFree(p: Ptr): void {
  mem.free(p);
}

/** Wipe C memory that held key material. */
export function cWipe(p: Ptr, len: number): void {
  if (len > 0) mem.bzero(p, len);
}

/** Copy `len` bytes of C memory into a fresh Buffer. */
export function copyOut(ptr: Ptr, len: number): Buffer {
  const b = Buffer.alloc(len);
  if (len > 0) mem.memcpy(b, ptr, len);
  return b;
}

/** Copy a Buffer into C memory at ptr (which holds at least buf.length bytes). */
export function copyIn(ptr: Ptr, buf: Buffer): void {
  if (buf.length > 0) mem.memcpy(ptr, buf, buf.length);
}

export { koffi };
