/**
 * munge_encode/munge_decode through the real libmunge, on koffi's worker threads: each call waits
 * on munged (~140 us), and the store must never block other clients on one call.
 * One munge context per call: contexts are not shared between threads.
 */
import koffi from 'koffi';
import { Krb5BridgeError } from '../errors';
import { Limiter } from '../util/limit';
import {
  EMUNGE_BAD_CRED,
  EMUNGE_CRED_EXPIRED,
  EMUNGE_CRED_INVALID,
  EMUNGE_CRED_REPLAYED,
  EMUNGE_CRED_REWOUND,
  EMUNGE_CRED_UNAUTHORIZED,
  MUNGE_OPT_SOCKET,
  MUNGE_OPT_UID_RESTRICTION,
  MAX_IN_FLIGHT,
  libmunge,
} from './libmunge';

export const DEFAULT_MUNGE_SOCKET = '/run/munge/munge.socket.2';

export interface MungeOptions {
  /** munged socket; undefined = libmunge's default. */
  socket?: string | undefined;
}

export interface EncodeOptions extends MungeOptions {
  /** Only this uid may decode the credential. */
  uidRestriction?: number | undefined;
}

export interface Decoded {
  uid: number;
  gid: number;
  payload: Buffer;
}

/** Why a munge call failed: the munge error number, and for replays/expiry the payload munge still returned. */
export interface MungeCause {
  mungeCode: number;
  payload?: Buffer;
}

// Credentials that munged itself rejects: the caller failed to authenticate, munge works.
const AUTH_FAILURES = new Set([
  EMUNGE_BAD_CRED,
  EMUNGE_CRED_INVALID,
  EMUNGE_CRED_EXPIRED,
  EMUNGE_CRED_REWOUND,
  EMUNGE_CRED_REPLAYED,
  EMUNGE_CRED_UNAUTHORIZED,
]);

const limiter = new Limiter(MAX_IN_FLIGHT);

function socketName(opts: MungeOptions): string {
  return opts.socket ?? `${DEFAULT_MUNGE_SOCKET} (libmunge default)`;
}

function newContext(opts: EncodeOptions): unknown {
  const m = libmunge();
  const ctx = m.ctxCreate();
  if (!ctx) throw new Krb5BridgeError('E_MUNGE', 'munge_ctx_create failed (out of memory)');
  const set = (opt: number, type: string, value: unknown, what: string): void => {
    const rc = m.ctxSet(ctx, opt, type, value);
    if (rc !== 0) {
      const text = m.ctxStrerror(ctx) ?? m.strerror(rc) ?? `error ${rc}`;
      m.ctxDestroy(ctx);
      throw new Krb5BridgeError('E_MUNGE', `cannot set ${what}: ${text}`);
    }
  };
  if (opts.socket !== undefined) set(MUNGE_OPT_SOCKET, 'str', opts.socket, `munge socket ${opts.socket}`);
  if (opts.uidRestriction !== undefined) set(MUNGE_OPT_UID_RESTRICTION, 'uint32_t', opts.uidRestriction, `uid restriction ${opts.uidRestriction}`);
  return ctx;
}

function failure(op: string, rc: number, ctx: unknown, opts: MungeOptions, payload?: Buffer): Krb5BridgeError {
  const m = libmunge();
  const text = m.ctxStrerror(ctx) ?? m.strerror(rc) ?? `error ${rc}`;
  const cause: MungeCause = { mungeCode: rc, ...(payload ? { payload } : {}) };
  if (AUTH_FAILURES.has(rc)) return new Krb5BridgeError('E_AUTH', `${op}: ${text} (munge error ${rc})`, { cause });
  return new Krb5BridgeError('E_MUNGE', `${op} via socket ${socketName(opts)}: ${text} (munge error ${rc})`, { cause });
}

function copyAndFree(ptr: unknown, len: number): Buffer {
  const out = Buffer.from(new Uint8Array(koffi.view(ptr, len)));
  koffi.free(ptr);
  return out;
}

/** munge_encode: a credential (ASCII `MUNGE:...:`) carrying `payload`. */
export function mungeEncode(payload: Buffer, opts: EncodeOptions = {}): Promise<string> {
  return limiter.run(
    () =>
      new Promise<string>((resolve, reject) => {
        const m = libmunge();
        const ctx = newContext(opts);
        const out: unknown[] = [null];
        m.encode.async(out, ctx, payload, payload.length, (err: unknown, rc: number) => {
          try {
            if (err) return reject(new Krb5BridgeError('E_MUNGE', `munge_encode: ${String(err)}`, { cause: err }));
            if (rc !== 0) {
              if (out[0]) koffi.free(out[0]);
              return reject(failure('munge_encode', rc, ctx, opts));
            }
            const cred = koffi.decode(out[0], 'char', -1) as string;
            koffi.free(out[0]);
            resolve(cred);
          } finally {
            m.ctxDestroy(ctx);
          }
        });
      }),
  );
}

/** munge_decode: who encoded `cred` (uid/gid as munged saw them) and its payload. */
export function mungeDecode(cred: string, opts: MungeOptions = {}): Promise<Decoded> {
  return limiter.run(
    () =>
      new Promise<Decoded>((resolve, reject) => {
        const m = libmunge();
        const ctx = newContext(opts);
        const buf: unknown[] = [null];
        const len = [0];
        const uid = [0];
        const gid = [0];
        m.decode.async(cred, ctx, buf, len, uid, gid, (err: unknown, rc: number) => {
          try {
            if (err) return reject(new Krb5BridgeError('E_MUNGE', `munge_decode: ${String(err)}`, { cause: err }));
            const payload = buf[0] ? copyAndFree(buf[0], len[0] as number) : Buffer.alloc(0);
            if (rc !== 0) return reject(failure('munge_decode', rc, ctx, opts, payload));
            resolve({ uid: uid[0] as number, gid: gid[0] as number, payload });
          } finally {
            m.ctxDestroy(ctx);
          }
        });
      }),
  );
}

/** The munge error number behind a failure from this module, if any. */
export function mungeCauseOf(e: unknown): MungeCause | undefined {
  const cause = (e as { cause?: unknown } | null)?.cause as MungeCause | undefined;
  return cause && typeof cause.mungeCode === 'number' ? cause : undefined;
}
