/**
 * The storage seam (after Slurm's `slurm_cred_ops_t` and AUKS's `auks_cred_repo.h`): the one
 * interface to the credential records, used by the request handlers, the renewer and key
 * rotation. A backend is a folder of its own (records/dir: the state directory; records/memory.ts
 * for unit tests); callers never see which one runs.
 *
 * Every backend keeps a complete view of the records in memory, so reads (get, list) never touch a
 * disk or a network, and writes go through it. Writes are conditional, so that "only a fresher
 * ticket replaces the stored one" and "the renewer never undoes a push" hold whatever interleaves:
 * put 'fresher' (a push), 'any' (push --force), 'version' (compare-and-swap on the version read).
 */

/** One stored credential: what the store keeps for a uid. The wire shows only part of it (wire/messages.ts, RecordInfo). */
export interface StoredCredential {
  readonly uid: number;
  /** The TGT's client principal. */
  readonly principal: string;
  readonly authtime: number;
  readonly endtime: number;
  readonly renew_till: number;
  /** When this ticket was stored (pushed or renewed), Unix seconds. */
  readonly stored_at: number;
  /** base64 KRB-CRED holding the TGT(s): secret. */
  readonly creds: string;
}

/** A credential as a backend holds it, with the backend's version of it. */
export interface RecordEntry {
  readonly cred: StoredCredential;
  /** Changes with every write of this uid's record; opaque. */
  readonly version: string;
}

export type PutCondition =
  /** Only when the new ticket is fresher than the stored one (a push). */
  | { kind: 'fresher' }
  /** Whatever is stored (push --force). */
  | { kind: 'any' }
  /** Only while the stored record is still this version (the renewer, key rotation). */
  | { kind: 'version'; version: string };

export interface PutOptions {
  /**
   * When the storage cannot take the write (disk full, read-only): keep the record in the view
   * anyway (it is served from memory), retry the write in the background, and resolve `written`
   * with `unsaved: true` instead of failing. For the renewer: a renewed ticket is never thrown
   * away for want of disk space. A push is not acknowledged before it is durable (no keep).
   */
  keepUnsaved?: boolean;
}

export type PutResult = { written: true; entry: RecordEntry; unsaved?: boolean } | { written: false; current: RecordEntry | undefined };

/** Whether the storage takes writes now. */
export type StorageHealth = { ok: true } | { ok: false; problem: string; since: number; unsaved: number };

/** A record changed (written: entry set; removed: entry undefined). */
export interface RecordChange {
  uid: number;
  entry: RecordEntry | undefined;
}

/**
 * Several stores on one storage (etcd): which one renews. Only the store holding the renewer's
 * lease renews, so a TGT is renewed once per cycle at the KDC, not once per store.
 */
export interface Leadership {
  /** True while this store holds the renewer's lease (with a safety margin before it could expire). */
  leading(): boolean;
  close(): Promise<void>;
}

export interface RecordStore {
  /** What and where, for logs: "state directory /var/lib/krb5bridge". */
  readonly description: string;
  get(uid: number): RecordEntry | undefined;
  /** Every record, by uid. */
  list(): RecordEntry[];
  /** Durable before it resolves `written` (unless keepUnsaved); E_STORAGE when the storage cannot take it. */
  put(cred: StoredCredential, when: PutCondition, opts?: PutOptions): Promise<PutResult>;
  /** Remove uid's record (only while it is `version`, if given); false when there was none to remove. */
  delete(uid: number, version?: string): Promise<boolean>;
  /** Called after every change of the view, whoever made it; returns the unsubscribe function. */
  watch(listener: (change: RecordChange) => void): () => void;
  /** Encryption at rest: the key id that seals uid's stored record (undefined: none, or plaintext). */
  sealedWith(uid: number): Promise<number | undefined>;
  /** Re-seal uid's stored record with the current key if another key seals it; true if rewritten. */
  reseal(uid: number): Promise<boolean>;
  /** The uids that have a stored record, as stored (not the view). */
  storedUids(): Promise<number[]>;
  /** Resolves when every write under way now has finished. */
  settled(): Promise<void>;
  /** Whether records kept unsaved wait for the storage (said in `ping` and the log). */
  health(): StorageHealth;
  /** Several stores share this storage: the renewer's election (undefined: this store is the only one, it renews). */
  readonly leadership?: Leadership | undefined;
  /**
   * Key rotation is about to seal every record with key `keyId`: refuse (E_STATE, saying what to
   * do) while another store sharing this storage could not open such records. Undefined: no other store.
   */
  beforeRotation?(keyId: number): Promise<void>;
  close(): Promise<void>;
}

/** Replace a stored TGT only with a fresher one: a later endtime, or a newer authtime (a new kinit). */
export function isFresher(incoming: Pick<StoredCredential, 'authtime' | 'endtime'>, stored: Pick<StoredCredential, 'authtime' | 'endtime'> | undefined): boolean {
  if (!stored) return true;
  return incoming.endtime > stored.endtime || incoming.authtime > stored.authtime;
}

/** May `cred` replace `current` under `when`? */
export function putAllowed(when: PutCondition, cred: StoredCredential, current: RecordEntry | undefined): boolean {
  switch (when.kind) {
    case 'any':
      return true;
    case 'fresher':
      return isFresher(cred, current?.cred);
    case 'version':
      return current?.version === when.version;
  }
}
