/**
 * The stores sharing one etcd prefix, each under `<prefix>stores/<host:pid>` with a lease (gone a
 * TTL after the store dies), saying which key ids its key file holds: ids, never keys. Key
 * rotation asks it before sealing records with a new key, so no live store is left with records
 * it cannot open (the key file is per host: docs/security.md, "Several stores").
 */
import type { Etcd3, Lease, Namespace } from 'etcd3';
import { Krb5BridgeError } from '../../errors';
import { RetryEverySecond } from './retry';

interface Entry {
  store: string;
  keys: number[];
  since: string;
}

export class StoreRegistry {
  private lease: Lease | undefined;
  private keys: number[] = [];
  private closed = false;
  private readonly since = new Date().toISOString();
  private readonly retry: RetryEverySecond;

  constructor(
    private readonly ns: Namespace | Etcd3,
    private readonly ttlSeconds: number,
    private readonly me: string,
    log: (line: string) => void,
  ) {
    this.retry = new RetryEverySecond(log);
  }

  /** (Re)publish this store's key ids; resolves when etcd has them (or rejects: retried on its own). */
  async publish(keys: number[]): Promise<void> {
    this.keys = [...keys].sort((a, b) => a - b);
    if (this.closed) return;
    if (!this.lease) {
      const lease = this.ns.lease(this.ttlSeconds);
      lease.on('lost', (e: Error) => {
        if (this.lease !== lease) return;
        this.lease = undefined;
        this.retry.failed(`store registry: the lease of ${this.me} is lost (${e.message}); registering again every second until etcd takes it`, () => void this.publish(this.keys).catch(() => undefined));
      });
      this.lease = lease;
    }
    const entry: Entry = { store: this.me, keys: this.keys, since: this.since };
    await this.lease.put(`stores/${this.me}`).value(JSON.stringify(entry));
    this.retry.worked();
  }

  /** Every registered store but this one, with its key ids. */
  private async others(): Promise<Entry[]> {
    const all = await this.ns.getAll().prefix('stores/').strings();
    const out: Entry[] = [];
    for (const [key, value] of Object.entries(all)) {
      try {
        const e = JSON.parse(value) as Entry;
        if (e.store !== this.me && Array.isArray(e.keys)) out.push(e);
      } catch {
        out.push({ store: key.slice('stores/'.length), keys: [], since: '?' });
      }
    }
    return out;
  }

  /** E_STATE naming every live store whose key file does not hold key `id`. */
  async requireKey(id: number): Promise<void> {
    const missing = (await this.others()).filter((e) => !e.keys.includes(id));
    if (missing.length === 0) return;
    throw new Krb5BridgeError(
      'E_STATE',
      `key rotation refused: ${missing.map((e) => `store ${e.store} (keys ${e.keys.join(',') || 'none'})`).join(', ')} does not hold key ${id}, so it could not open the records sealed with it. ` +
        'Run `krb5bridge rotate-key --prepare` on one store host, copy its key file to every store host (each store reads it again within 5 s), then rotate again',
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    this.retry.close();
    const lease = this.lease;
    this.lease = undefined;
    await lease?.revoke().catch(() => undefined);
  }
}
