/**
 * koffi bindings to libmunge (munge.h, libmunge.so.2). Loaded on first use so that verbs which
 * never talk to munged do not need the library.
 */
import koffi from 'koffi';
import { Krb5BridgeError } from '../errors';

/** munge_opt_t values from munge.h. */
export const MUNGE_OPT_TTL = 4;
export const MUNGE_OPT_SOCKET = 8;
export const MUNGE_OPT_UID_RESTRICTION = 9;

/** munge_err_t values the helper treats specially. */
export const EMUNGE_SUCCESS = 0;
export const EMUNGE_SOCKET = 6;
export const EMUNGE_BAD_CRED = 8;
export const EMUNGE_CRED_INVALID = 14;
export const EMUNGE_CRED_EXPIRED = 15;
export const EMUNGE_CRED_REWOUND = 16;
export const EMUNGE_CRED_REPLAYED = 17;
export const EMUNGE_CRED_UNAUTHORIZED = 18;

/** A koffi function that can also run on koffi's worker threads. */
export interface AsyncFn {
  (...args: unknown[]): unknown;
  async: (...args: unknown[]) => void;
}

export interface LibMunge {
  ctxCreate: () => unknown;
  ctxDestroy: (ctx: unknown) => void;
  /** Variadic: (ctx, opt, type, value); cannot run async, but it only fills the context in memory. */
  ctxSet: (ctx: unknown, opt: number, type: string, value: unknown) => number;
  ctxStrerror: (ctx: unknown) => string | null;
  strerror: (err: number) => string | null;
  /** munge_encode(char **cred, ctx, const void *buf, int len) */
  encode: AsyncFn;
  /** munge_decode(const char *cred, ctx, void **buf, int *len, uid_t *uid, gid_t *gid) */
  decode: AsyncFn;
}

let lib: LibMunge | undefined;

/** In-flight async munge calls (munge.ts bounds them); koffi keeps this many call pools resident. */
export const MAX_IN_FLIGHT = 32;

export function libmunge(): LibMunge {
  if (lib) return lib;
  // Beyond `resident_async_pools` (default 8) koffi allocates and frees a stack+heap pool per async
  // call: under load that showed as the store's top cost. Keep one resident per in-flight call.
  try {
    if ((koffi.config().resident_async_pools ?? 0) < MAX_IN_FLIGHT) koffi.config({ ...koffi.config(), resident_async_pools: MAX_IN_FLIGHT });
  } catch {
    /* settings are fixed once koffi made its first async call elsewhere; only slower */
  }
  let h: ReturnType<typeof koffi.load>;
  try {
    h = koffi.load('libmunge.so.2');
  } catch (e) {
    throw new Krb5BridgeError('E_MUNGE', `cannot load libmunge.so.2 (install the munge library): ${(e as Error).message}`, { cause: e });
  }
  lib = {
    ctxCreate: h.func('void *munge_ctx_create(void)') as LibMunge['ctxCreate'],
    ctxDestroy: h.func('void munge_ctx_destroy(void *ctx)') as LibMunge['ctxDestroy'],
    ctxSet: h.func('int munge_ctx_set(void *ctx, int opt, ...)') as LibMunge['ctxSet'],
    ctxStrerror: h.func('const char *munge_ctx_strerror(void *ctx)') as LibMunge['ctxStrerror'],
    strerror: h.func('const char *munge_strerror(int e)') as LibMunge['strerror'],
    encode: h.func('int munge_encode(_Out_ void **cred, void *ctx, const void *buf, int len)') as unknown as AsyncFn,
    decode: h.func(
      'int munge_decode(const char *cred, void *ctx, _Out_ void **buf, _Out_ int *len, _Out_ uint32_t *uid, _Out_ uint32_t *gid)',
    ) as unknown as AsyncFn,
  };
  return lib;
}
