/**
 * A small cache of promises with a lifetime per answer: one lookup (NSS, DNS) serves a burst of
 * requests, a failed lookup is not kept, and the cache never grows past `max` entries.
 */
export class TtlCache<K, V> {
  private readonly map = new Map<K, { value: Promise<V>; until: number }>();

  constructor(private readonly max = 10_000) {}

  /** The cached answer for `key`, else `load()`'s; a resolved answer is kept `ttlMs(answer)` ms. */
  get(key: K, ttlMs: (v: V) => number, load: () => Promise<V>): Promise<V> {
    const now = Date.now();
    const hit = this.map.get(key);
    if (hit && hit.until > now) return hit.value;
    if (this.map.size > this.max) this.map.clear();
    const value = load();
    const entry = { value, until: Number.POSITIVE_INFINITY };
    this.map.set(key, entry);
    value.then(
      (v) => (entry.until = Date.now() + ttlMs(v)),
      () => this.map.get(key) === entry && this.map.delete(key),
    );
    return value;
  }
}
