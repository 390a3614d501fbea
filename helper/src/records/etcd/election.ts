/**
 * Which store renews (storage = etcd): an election on etcd leases, as etcd's own Go client does
 * it. Each store holds a lease of `etcd_lease_ttl` seconds, kept alive every third of it, and a
 * key `<prefix>election/renewer/<lease id>` attached to it; the key created first leads. Only
 * the leader renews, so each TGT is renewed once per cycle at the KDC.
 *
 * A killed leader stops keeping its lease alive; etcd drops the lease and its key after the TTL,
 * the other stores see the deletion through their watch, and the oldest remaining key leads:
 * within one TTL and a round trip. A leader that cannot reach etcd would still believe it leads,
 * so `leading()` also requires a keep-alive that etcd answered within the last two thirds of a
 * TTL: by then etcd may not have dropped the lease, so no other store can have been elected while
 * this one still renews (two leaders would renew the same ticket twice).
 *
 * Written here on etcd3's Lease and Watch rather than its Election: every lease and watch of it
 * is this store's own, so closing the store releases all of them (etcd3's Election leaves a watch
 * behind when it resigns while waiting).
 */
import type { Etcd3, IKeyValue, Lease, Namespace, Watcher } from 'etcd3';
import type { Leadership } from '../types';
import { RetryEverySecond } from './retry';

const PREFIX = 'election/renewer/';

export class EtcdElection implements Leadership {
  private lease: Lease | undefined;
  private key: string | undefined;
  private watcher: Watcher | undefined;
  private elected = false;
  /** When etcd last confirmed this store's lease alive (ms). */
  private lastAlive = 0;
  private closed = false;
  private readonly retry: RetryEverySecond;

  constructor(
    private readonly ns: Namespace | Etcd3,
    private readonly ttlSeconds: number,
    /** This store, as the other stores see the leader (host:pid). */
    private readonly me: string,
    private readonly log: (line: string) => void,
  ) {
    this.retry = new RetryEverySecond(log);
  }

  start(): void {
    void this.stand();
  }

  /** Take a lease, put this store's key on it, watch the others', see who leads. */
  private async stand(): Promise<void> {
    if (this.closed || this.lease) return;
    const lease = this.ns.lease(this.ttlSeconds);
    this.lease = lease;
    lease.on('keepaliveSucceeded', () => (this.lastAlive = Date.now()));
    lease.on('lost', (e: Error) => this.lost(lease, e));
    try {
      const id = await lease.grant();
      this.lastAlive = Date.now();
      const key = `${PREFIX}${id}`;
      await lease.put(key).value(this.me);
      if (this.lease !== lease) return;
      this.key = key;
      if (!this.watcher) {
        const w = await this.ns.watch().prefix(PREFIX).create();
        if (this.closed) return void (await w.cancel().catch(() => undefined));
        this.watcher = w;
        w.on('delete', () => void this.see());
        w.on('put', () => void this.see());
      }
      await this.see();
      this.retry.worked();
    } catch (e) {
      this.lost(lease, e as Error);
    }
  }

  /** The oldest key under the prefix leads; is it ours? */
  private async see(): Promise<void> {
    if (this.closed || !this.key) return;
    let first: IKeyValue | undefined;
    try {
      first = (await this.ns.getAll().prefix(PREFIX).sort('Create', 'Ascend').limit(1).exec()).kvs[0];
    } catch {
      return; // etcd unreachable: leading() runs out by itself; the next change is seen again
    }
    const mine = first !== undefined && first.key.toString() === this.key;
    if (mine && !this.elected) {
      this.elected = true;
      this.log(`renewer: this store (${this.me}) is elected and renews the stored tickets (etcd lease TTL ${this.ttlSeconds} s)`);
    } else if (!mine && this.elected) {
      this.elected = false;
      this.log(`renewer: this store (${this.me}) no longer leads (${first ? `${first.value.toString()} does` : 'no store stands'}); it stops renewing`);
    }
  }

  /** The lease is gone (or could not be had): not leading; stand again in a second. */
  private lost(lease: Lease, e: Error): void {
    if (this.lease !== lease) return;
    const was = this.elected;
    this.elected = false;
    this.lease = undefined;
    this.key = undefined;
    // Losing the lead is always said; failing to stand, once per outage.
    this.retry.failed(`renewer: ${was ? 'this store stopped renewing' : 'this store cannot stand for the renewer'}: ${e.message}; another store renews meanwhile; standing again every second`, () => void this.stand(), was);
  }

  leading(): boolean {
    return this.elected && Date.now() - this.lastAlive < (this.ttlSeconds * 1000 * 2) / 3;
  }

  /** Resign: the lease is revoked, so another store is elected at once; the watch ends. */
  async close(): Promise<void> {
    this.closed = true;
    this.elected = false;
    this.retry.close();
    const w = this.watcher;
    this.watcher = undefined;
    await w?.cancel().catch(() => undefined);
    const lease = this.lease;
    this.lease = undefined;
    // revoke() also stops its keep-alives.
    await lease?.revoke().catch(() => undefined);
  }
}
