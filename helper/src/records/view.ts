/**
 * What the dir and memory backends share: the in-memory view, one lock per uid (so the check of a
 * put's condition, the write and the view's update are one step), versions, watchers, and sealing
 * inside the lock with the key current at that moment (key rotation relies on it). A backend adds
 * only where sealed records live: writeSealed / removeSealed / readSealed / storedUids.
 */
import { KeyedLock } from '../util/keyedlock';
import type { RecordCodec } from './codec';
import { PutCondition, PutResult, RecordChange, RecordEntry, RecordStore, StoredCredential, putAllowed } from './types';

export abstract class ViewStore implements RecordStore {
  abstract readonly description: string;
  private readonly view = new Map<number, RecordEntry>();
  private readonly locks = new KeyedLock<number>();
  private readonly listeners = new Set<(c: RecordChange) => void>();
  private counter = 0;

  constructor(protected readonly codec: RecordCodec) {}

  /** Durably store uid's sealed record, replacing any. */
  protected abstract writeSealed(uid: number, sealed: string): Promise<void>;
  /** Durably remove uid's sealed record; a missing one is fine. */
  protected abstract removeSealed(uid: number): Promise<void>;
  /** uid's sealed record as stored, or undefined. */
  protected abstract readSealed(uid: number): Promise<string | undefined>;
  abstract storedUids(): Promise<number[]>;

  /** Put a record loaded at start-up into the view (no write, no event). */
  protected load(cred: StoredCredential): void {
    this.view.set(cred.uid, { cred, version: this.nextVersion() });
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

  put(cred: StoredCredential, when: PutCondition): Promise<PutResult> {
    return this.locks.run(cred.uid, async (): Promise<PutResult> => {
      const current = this.view.get(cred.uid);
      if (!putAllowed(when, cred, current)) return { written: false, current };
      // Durable before the view changes: an answer never acknowledges what a crash would lose.
      await this.writeSealed(cred.uid, this.codec.encode(cred));
      const entry: RecordEntry = { cred, version: this.nextVersion() };
      this.view.set(cred.uid, entry);
      this.emit({ uid: cred.uid, entry });
      return { written: true, entry };
    });
  }

  delete(uid: number, version?: string): Promise<boolean> {
    return this.locks.run(uid, async () => {
      const current = this.view.get(uid);
      if (!current || (version !== undefined && current.version !== version)) return false;
      await this.removeSealed(uid);
      this.view.delete(uid);
      this.emit({ uid, entry: undefined });
      return true;
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
      const text = await this.readSealed(uid);
      if (text === undefined) return false; // removed meanwhile
      const { cred, kid } = this.codec.decode(uid, text);
      if (kid === this.codec.keys.current.id) return false;
      await this.writeSealed(uid, this.codec.encode(cred));
      return true;
    });
  }

  settled(): Promise<void> {
    return this.locks.idle();
  }

  abstract close(): Promise<void>;
}
