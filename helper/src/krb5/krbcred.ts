/**
 * KRB-CRED messages (RFC 4120 5.8) made and read by libkrb5 on key-less auth contexts: the
 * enc-part is unencrypted, so these bytes are secret (they carry session keys); confidentiality
 * comes from the transport and the store's encryption at rest.
 */
import { Krb5BridgeError } from '../errors';
import { KrbData, Ptr, cAlloc, cFree, cWipe, check, copyIn, copyOut, ctx, fn, koffi, krbError, outPtr } from './lib';
import { decodeCreds } from './creds';
import { checkKrbCredShape } from './krbcred-shape';

export const MAX_KRBCRED_BYTES = 1024 * 1024;
/** A user has a handful of TGTs (own realm plus cross-realm); more is not a real ccache. */
const MAX_CREDS = 64;

/** A key-less auth context without replay/time checks (there is no key to protect them with). */
function withAuthContext<T>(body: (ac: Ptr) => T): T {
  const c = ctx();
  const ac = outPtr((o) => fn.auth_con_init(c, o), 'krb5_auth_con_init');
  try {
    check('krb5_auth_con_setflags', fn.auth_con_setflags(c, ac, 0));
    return body(ac);
  } finally {
    fn.auth_con_free(c, ac);
  }
}

/** krb5_mk_ncred over creds structs in C memory. */
export function mkKrbCred(creds: Ptr[]): Buffer {
  const c = ctx();
  const list = Buffer.alloc((creds.length + 1) * 8);
  creds.forEach((p, i) => list.writeBigUInt64LE(p, i * 8));
  return withAuthContext((ac) => {
    const der = outPtr((o) => fn.mk_ncred(c, ac, list, o, null), 'krb5_mk_ncred');
    try {
      const d = koffi.decode(der, KrbData) as { length: number; data: Ptr | null };
      if (!d.data || d.length === 0) throw new Krb5BridgeError('E_KRB5', 'krb5_mk_ncred returned an empty message');
      const out = copyOut(d.data, d.length);
      cWipe(d.data, d.length);
      return out;
    } finally {
      fn.free_data(c, der);
    }
  });
}

/**
 * krb5_rd_cred, then `body` with the decoded creds (pointers valid only inside body; freed after).
 * Anything libkrb5 cannot read is E_PROTOCOL, never a crash.
 */
export function withKrbCred<T>(krbcred: Buffer, body: (creds: Ptr[]) => T): T {
  if (!Buffer.isBuffer(krbcred) || krbcred.length === 0) throw new Krb5BridgeError('E_PROTOCOL', 'empty KRB-CRED message');
  if (krbcred.length > MAX_KRBCRED_BYTES) {
    throw new Krb5BridgeError('E_PROTOCOL', `KRB-CRED message of ${krbcred.length} bytes exceeds the ${MAX_KRBCRED_BYTES}-byte limit`);
  }
  checkKrbCredShape(krbcred, MAX_CREDS);
  const c = ctx();
  const n = krbcred.length;
  const bytes = cAlloc(n);
  const data = cAlloc(koffi.sizeof(KrbData));
  try {
    copyIn(bytes, krbcred);
    koffi.encode(data, KrbData, { magic: 0, length: n, data: bytes });
    return withAuthContext((ac) => {
      const out: [Ptr | null] = [null];
      const code = fn.rd_cred(c, ac, data, out, null) as number;
      if (code !== 0) {
        const e = krbError('krb5_rd_cred', code);
        throw new Krb5BridgeError('E_PROTOCOL', `not a readable KRB-CRED message: ${e.detail}`);
      }
      const arr = out[0];
      if (!arr) throw new Krb5BridgeError('E_PROTOCOL', 'KRB-CRED message holds no credentials');
      try {
        const creds: Ptr[] = [];
        for (let i = 0; ; i++) {
          const p = koffi.decode(arr, i * 8, 'void *') as Ptr | null;
          if (!p) break;
          if (i >= MAX_CREDS) throw new Krb5BridgeError('E_PROTOCOL', `KRB-CRED message holds more than ${MAX_CREDS} credentials`);
          // KrbCredInfo's pname/sname are OPTIONAL: libkrb5 leaves them NULL, which must not
          // reach krb5_unparse_name or krb5_cc_initialize.
          const d = decodeCreds(p);
          if (!d.client || !d.server) throw new Krb5BridgeError('E_PROTOCOL', `KRB-CRED credential ${i + 1} names no client or server`);
          creds.push(p);
        }
        if (creds.length === 0) throw new Krb5BridgeError('E_PROTOCOL', 'KRB-CRED message holds no credentials');
        return body(creds);
      } finally {
        fn.free_tgt_creds(c, arr);
      }
    });
  } finally {
    cWipe(bytes, n);
    cFree(bytes);
    cFree(data);
  }
}
