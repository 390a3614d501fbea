/**
 * A stored record's bytes: the record as exact JSON (docs/internals.md, "Store state"), sealed
 * with the key ring (atrest.ts) before any backend writes it, opened and checked field by field
 * when read. Backends store what `encode` returns and nothing else, so a state directory, an etcd
 * key or a backup never holds a principal name or ticket bytes in clear.
 */
import { Krb5BridgeError } from '../errors';
import { KeyRing, open, seal } from './atrest';
import type { StoredCredential } from './types';

export const MAX_UID = 4294967294;

const RECORD_FIELDS = ['uid', 'principal', 'endtime', 'renew_till', 'authtime', 'stored_at', 'creds'];

/** The plain record text: the documented field order. */
export function serializeRecord(r: StoredCredential): string {
  return (
    JSON.stringify({
      uid: r.uid,
      principal: r.principal,
      endtime: r.endtime,
      renew_till: r.renew_till,
      authtime: r.authtime,
      stored_at: r.stored_at,
      creds: r.creds,
    }) + '\n'
  );
}

/** Plain record text -> a record, refusing anything that is not exactly the schema (E_STATE). */
export function parseRecord(text: string, expectUid: number): StoredCredential {
  let obj: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    obj = Object.assign(Object.create(null) as Record<string, unknown>, v);
  } catch {
    throw new Krb5BridgeError('E_STATE', 'record is not a JSON object');
  }
  for (const key of Object.keys(obj)) if (!RECORD_FIELDS.includes(key)) throw new Krb5BridgeError('E_STATE', `unknown field "${key.slice(0, 40)}"`);
  const int = (k: string, max = Number.MAX_SAFE_INTEGER): number => {
    const v = obj[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new Krb5BridgeError('E_STATE', `field "${k}" is not a non-negative integer`);
    return v;
  };
  const uid = int('uid', MAX_UID);
  if (uid !== expectUid) throw new Krb5BridgeError('E_STATE', `uid ${uid} in a record stored for uid ${expectUid}`);
  if (typeof obj.principal !== 'string' || obj.principal.length === 0 || obj.principal.length > 1024) throw new Krb5BridgeError('E_STATE', 'field "principal" is not a principal name');
  if (typeof obj.creds !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(obj.creds)) throw new Krb5BridgeError('E_STATE', 'field "creds" is not base64');
  return {
    uid,
    principal: obj.principal,
    endtime: int('endtime'),
    renew_till: int('renew_till'),
    authtime: int('authtime'),
    stored_at: int('stored_at'),
    creds: obj.creds,
  };
}

export interface Decoded {
  cred: StoredCredential;
  /** The key that opened it; undefined for a legacy plaintext record (to be rewritten sealed). */
  kid: number | undefined;
}

/** Records <-> sealed text, with the store's key ring (whose current key seals). */
export class RecordCodec {
  constructor(readonly keys: KeyRing) {}

  encode(cred: StoredCredential): string {
    return seal(this.keys, cred.uid, serializeRecord(cred));
  }

  decode(uid: number, text: string): Decoded {
    const opened = open(this.keys, uid, text);
    return { cred: parseRecord(opened.plain, uid), kid: opened.kid };
  }

  /** The key id that sealed `text` (undefined: plaintext), without parsing the record. */
  keyOf(uid: number, text: string): number | undefined {
    return open(this.keys, uid, text).kid;
  }
}
