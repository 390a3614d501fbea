/**
 * The `memory` backend: the records live only in this process (sealed all the same, so key
 * rotation behaves as on disk). For unit tests of the handlers and the renewer; never a store's
 * storage (a restart would lose every ticket).
 */
import type { RecordCodec } from './codec';
import { ViewStore } from './view';

export class MemoryRecordStore extends ViewStore {
  readonly description = 'memory (unit tests only)';
  private readonly sealed = new Map<number, string>();
  /** Make the next write fail with this error (a full disk, in tests). */
  failWrites: Error | undefined;

  constructor(codec: RecordCodec, log?: (line: string) => void) {
    super(codec, log);
  }

  protected async writeSealed(uid: number, sealed: string): Promise<void> {
    if (this.failWrites) throw this.failWrites;
    this.sealed.set(uid, sealed);
  }

  protected async removeSealed(uid: number): Promise<void> {
    this.sealed.delete(uid);
  }

  protected async readSealed(uid: number): Promise<string | undefined> {
    return this.sealed.get(uid);
  }

  async storedUids(): Promise<number[]> {
    return [...this.sealed.keys()].sort((a, b) => a - b);
  }

  async close(): Promise<void> {
    this.stopRetrying();
    await this.settled();
  }
}
