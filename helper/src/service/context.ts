/** What every request handler gets: the records, the authorizer, the clock, and the note it fills for the log and audit. */
import type { RecordStore, StoredCredential } from '../records/types';
import type { RotateResult } from '../records/rotate';
import type { Authorizer, DecisionNote } from '../policy/authorize';
import type { RecordInfo } from '../wire/messages';

export interface ServiceDeps {
  records: RecordStore;
  auth: Authorizer;
  version: string;
  /** Unix seconds. */
  now: () => number;
  /** Key rotation (admin op `rotate`); undefined = not offered. */
  rotate?: (() => Promise<RotateResult>) | undefined;
  /** Each answered request: op, `ok` or the error code, seconds (metrics/store.ts); undefined = not measured. */
  observe?: ((op: string, result: string, seconds: number) => void) | undefined;
}

/** What a request did, for its log and audit lines. */
export interface Note extends DecisionNote {
  principal?: string;
  /** The uid acted on. */
  target?: number;
  job?: string;
  /** push: stored or kept; rotate: the new key id. */
  action?: string;
  /** When handling began (performance.now()), for the log line's ms=. */
  started?: number;
}

/** The fields of a success answer. */
export type Fields = Record<string, unknown>;

/** What list and show tell about a stored credential: never the ticket itself. */
export function recordInfo(c: StoredCredential): RecordInfo {
  return { uid: c.uid, principal: c.principal, authtime: c.authtime, endtime: c.endtime, renew_till: c.renew_till, stored_at: c.stored_at };
}
