/**
 * One lock per key (a uid, a record file) inside this process: `run(key, fn)` runs fn after every
 * earlier fn of the same key has settled, so two writers of one uid never interleave. Keys with
 * nothing queued take no memory. (Across processes, see node/lock.ts: flock.)
 */
export class KeyedLock<K> {
  private readonly tails = new Map<K, Promise<unknown>>();

  run<T>(key: K, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }

  /** Resolves when everything queued now, under any key, has settled. */
  async idle(): Promise<void> {
    await Promise.all([...this.tails.values()]);
  }
}
