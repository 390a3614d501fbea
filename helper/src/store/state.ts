/** The store's memory: one credential record per uid, and the stored-file schema. */
import { Krb5BridgeError } from '../errors';
import { MAX_UID, RecordInfo, parseJsonObject } from './protocol';

/** One stored credential, as in `state_dir/creds/<uid>.json` (docs/internals.md, "Store state"). */
export interface CredRecord extends RecordInfo {
  /** base64 KRB-CRED holding the TGT(s). */
  creds: string;
}

const RECORD_FIELDS = ['uid', 'principal', 'endtime', 'renew_till', 'authtime', 'stored_at', 'creds'];

/** The file text for a record: the documented field order. */
export function serializeRecord(r: CredRecord): string {
  return JSON.stringify({
    uid: r.uid,
    principal: r.principal,
    endtime: r.endtime,
    renew_till: r.renew_till,
    authtime: r.authtime,
    stored_at: r.stored_at,
    creds: r.creds,
  }) + '\n';
}

/** File text -> a record, refusing anything that is not exactly the schema (E_STATE). */
export function parseRecord(text: string, expectUid: number): CredRecord {
  let obj: Record<string, unknown>;
  try {
    obj = parseJsonObject(text, 'record');
  } catch (e) {
    throw new Krb5BridgeError('E_STATE', (e as Error).message);
  }
  for (const key of Object.keys(obj)) if (!RECORD_FIELDS.includes(key)) throw new Krb5BridgeError('E_STATE', `unknown field "${key.slice(0, 40)}"`);
  const int = (k: string, max = Number.MAX_SAFE_INTEGER): number => {
    const v = obj[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new Krb5BridgeError('E_STATE', `field "${k}" is not a non-negative integer`);
    return v;
  };
  const uid = int('uid', MAX_UID);
  if (uid !== expectUid) throw new Krb5BridgeError('E_STATE', `uid ${uid} in a file named for uid ${expectUid}`);
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

export function recordInfo(r: CredRecord): RecordInfo {
  return { uid: r.uid, principal: r.principal, authtime: r.authtime, endtime: r.endtime, renew_till: r.renew_till, stored_at: r.stored_at };
}

/** In-memory map uid -> record; the files on disk are the durable copy. */
export class CredState {
  private readonly byUid = new Map<number, CredRecord>();

  get(uid: number): CredRecord | undefined {
    return this.byUid.get(uid);
  }

  set(record: CredRecord): void {
    this.byUid.set(record.uid, record);
  }

  delete(uid: number): boolean {
    return this.byUid.delete(uid);
  }

  all(): CredRecord[] {
    return [...this.byUid.values()].sort((a, b) => a.uid - b.uid);
  }

  get size(): number {
    return this.byUid.size;
  }
}
