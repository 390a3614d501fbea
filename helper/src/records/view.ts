/**
 * What the backends share: the in-memory view, one lock per uid (so the check of a put's
 * condition, the write and the view's update are one step), versions, watchers, sealing inside
 * the lock with the key current at that moment (key rotation relies on it), and records kept
 * unsaved while the storage refuses writes (retried every few seconds, said once in the log when
 * it starts and once when it ends). A backend adds only where sealed records live:
 * writeSealed / removeSealed / readSealed / storedUids.
 *
 * A storage that other stores write too (etcd) makes each write conditional on what this store
 * last saw there: when another store wrote first, the backend puts what storage holds into the
 * view (setView) and throws StorageConflict, and the operation is decided again against it, so
 * "only a fresher ticket replaces" and "the renewer never undoes a push" hold across stores. Such
 * a backend also gives the versions (its storage's revisions) and brings other stores' writes
 * into the view (adopt).
 */
import { Krb5BridgeError, isKrb5BridgeError } from '../errors';
import { KeyedLock } from '../util/keyedlock';
import type { RecordCodec } from './codec';
import { PutCondition, PutOptions, PutResult, RecordChange, RecordEntry, RecordStore, StorageHealth, StoredCredential, putAllowed } from './types';

/** How often records kept unsaved are written again. */
const RETRY_UNSAVED_MS = 5_000;
/** Writes lost to other stores' writes before the operation gives up (each one is retried at once). */
const MAX_CONFLICTS = 16;

/**
 * Thrown by writeSealed/removeSealed when the storage no longer holds what this store last saw
 * (another store wrote first); the backend has already put what it holds into the view.
 */
export class StorageConflict extends Error {
  constructor(uid: number) {
    super(`the record of uid ${uid} changed in the storage meanwhile`);
  }
}

export abstract class ViewStore implements RecordStore {
  abstract readonly description: string;
  private readonly view = new Map<number, RecordEntry>();
  private readonly locks = new KeyedLock<number>();
  private readonly listeners = new Set<(c: RecordChange) => void>();
  private counter = 0;
  /** uids whose record in the view is not in storage yet. */
  private readonly unsaved = new Set<number>();
  private storageProblem: { problem: string; since: number } | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    protected readonly codec: RecordCodec,
    protected readonly log: (line: string) => void = () => undefined,
  ) {}

  /**
   * Durably store uid's sealed record, replacing any (a shared storage: only if it still holds what
   * this store last saw, else StorageConflict). Returns the new version, or nothing for the view to number it.
   */
  protected abstract writeSealed(uid: number, sealed: string): Promise<string | void>;
  /** Durably remove uid's sealed record; a missing one is fine (a shared storage: StorageConflict as above). */
  protected abstract removeSealed(uid: number): Promise<void>;
  /** uid's sealed record as stored, or undefined. */
  protected abstract readSealed(uid: number): Promise<string | undefined>;
  abstract storedUids(): Promise<number[]>;

  /** Put a record loaded at start-up into the view (no write, no event). */
  protected load(cred: StoredCredential, version?: string): void {
    this.view.set(cred.uid, { cred, version: version ?? this.nextVersion() });
  }

  /** Set (or with no entry, remove) uid's record in the view and tell the watchers; the caller holds uid's lock. */
  protected setView(uid: number, entry: RecordEntry | undefined): void {
    if (entry) this.view.set(uid, entry);
    else if (!this.view.delete(uid)) return;
    this.emit({ uid, entry });
  }

  /** A change another store made to the storage, brought into the view under uid's lock (the backend orders them). */
  protected adopt(uid: number, entry: RecordEntry | undefined, isCurrent: () => boolean = () => true): Promise<void> {
    return this.locks.run(uid, async () => {
      // Re-checked under the lock: a write of ours may have landed since the change was seen.
      if (isCurrent()) this.setView(uid, entry);
    });
  }

  private nextVersion(): string {
    return String(++this.counter);
  }

  private emit(change: RecordChange): void {
    for (const l of this.listeners) l(change);
  }

  get(uid: number): RecordEntry | undefined {
    return this.view.get(uid);
  }

  list(): RecordEntry[] {
    return [...this.view.values()].sort((a, b) => a.cred.uid - b.cred.uid);
  }

  get size(): number {
    return this.view.size;
  }

  put(cred: StoredCredential, when: PutCondition, opts: PutOptions = {}): Promise<PutResult> {
    return this.locks.run(cred.uid, async (): Promise<PutResult> => {
      for (let conflicts = 0; ; conflicts++) {
        const current = this.view.get(cred.uid);
        if (!putAllowed(when, cred, current)) return { written: false, current };
        // Durable before the view changes: an answer never acknowledges what a crash would lose.
        let unsaved = false;
        let version: string | void = undefined;
        try {
          version = await this.writeSealed(cred.uid, this.codec.encode(cred));
          this.unsaved.delete(cred.uid);
          this.storageWorks();
        } catch (e) {
          // Another store wrote first: decide again against what it wrote (now in the view).
          if (e instanceof StorageConflict && conflicts < MAX_CONFLICTS) continue;
          if (!opts.keepUnsaved || e instanceof StorageConflict) throw e;
          unsaved = true;
          this.keepUnsaved(cred.uid, e);
        }
        const entry: RecordEntry = { cred, version: version ?? this.nextVersion() };
        this.setView(cred.uid, entry);
        return unsaved ? { written: true, entry, unsaved } : { written: true, entry };
      }
    });
  }

  health(): StorageHealth {
    if (!this.storageProblem) return { ok: true };
    return { ok: false, ...this.storageProblem, unsaved: this.unsaved.size };
  }

  private keepUnsaved(uid: number, e: unknown): void {
    this.unsaved.add(uid);
    const err = isKrb5BridgeError(e) ? e : new Krb5BridgeError('E_STORAGE', String(e));
    if (!this.storageProblem) {
      this.storageProblem = { problem: `${err.code}: ${err.detail ?? err.message}`, since: Math.floor(Date.now() / 1000) };
      this.log(`result=${err.code} ${err.detail ?? err.message}; credentials are kept in memory and served from there, and written again every ${RETRY_UNSAVED_MS / 1000} s`);
    }
    this.retryTimer ??= setInterval(() => void this.saveUnsaved(), RETRY_UNSAVED_MS).unref();
  }

  private storageWorks(): void {
    if (this.unsaved.size > 0 || !this.storageProblem) return;
    this.log(`the ${this.description} takes writes again: every credential kept in memory is saved (the storage problem began at ${new Date(this.storageProblem.since * 1000).toISOString()})`);
    this.storageProblem = undefined;
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** Write every record kept unsaved again (each under its uid's lock, as it is in the view now). */
  async saveUnsaved(): Promise<void> {
    for (const uid of [...this.unsaved]) {
      await this.locks.run(uid, async () => {
        const entry = this.view.get(uid);
        if (!this.unsaved.has(uid)) return;
        try {
          if (entry) {
            const version = await this.writeSealed(uid, this.codec.encode(entry.cred));
            if (version) this.setView(uid, { cred: entry.cred, version });
          } else await this.removeSealed(uid);
          this.unsaved.delete(uid);
        } catch (e) {
          // Another store wrote meanwhile (a push, or the renewer elected there): that record, now
          // in the view, is at least as fresh; ours is dropped. Else still refused: said once
          // already; tried again on the next round.
          if (e instanceof StorageConflict) this.unsaved.delete(uid);
        }
      });
    }
    this.storageWorks();
  }

  delete(uid: number, version?: string): Promise<boolean> {
    return this.locks.run(uid, async () => {
      for (let conflicts = 0; ; conflicts++) {
        const current = this.view.get(uid);
        if (!current || (version !== undefined && current.version !== version)) return false;
        try {
          await this.removeSealed(uid);
        } catch (e) {
          if (e instanceof StorageConflict && conflicts < MAX_CONFLICTS) continue;
          throw e;
        }
        this.unsaved.delete(uid);
        this.setView(uid, undefined);
        this.storageWorks();
        return true;
      }
    });
  }

  watch(listener: (change: RecordChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async sealedWith(uid: number): Promise<number | undefined> {
    const text = await this.readSealed(uid);
    return text === undefined ? undefined : this.codec.keyOf(uid, text);
  }

  /** Re-reads the stored record itself, under the uid's lock, so a concurrent push or renewal is never undone. */
  reseal(uid: number): Promise<boolean> {
    return this.locks.run(uid, async () => {
      for (let conflicts = 0; ; conflicts++) {
        const text = await this.readSealed(uid);
        if (text === undefined) return false; // removed meanwhile
        const { cred, kid } = this.codec.decode(uid, text);
        if (kid === this.codec.keys.current.id) return false;
        try {
          const version = await this.writeSealed(uid, this.codec.encode(cred));
          if (version) this.setView(uid, { cred, version });
          return true;
        } catch (e) {
          if (e instanceof StorageConflict && conflicts < MAX_CONFLICTS) continue;
          throw e;
        }
      }
    });
  }

  settled(): Promise<void> {
    return this.locks.idle();
  }

  /** Stop retrying unsaved records (close). */
  protected stopRetrying(): void {
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.retryTimer = undefined;
    if (this.unsaved.size > 0) this.log(`closing with ${this.unsaved.size} credential(s) not saved to the ${this.description} (${[...this.unsaved].join(', ')}): they are lost with this process`);
  }

  abstract close(): Promise<void>;
}
