/**
 * Which store renews (storage = etcd): an election on an etcd lease (etcd3's Election, as etcd's
 * Go client does it: each store puts a key under `<prefix>election/renewer/` with its lease; the
 * oldest key leads). Only the leader renews, so each TGT is renewed once per cycle at the KDC.
 *
 * A killed leader stops keeping its lease alive; etcd drops the lease and its key after the TTL,
 * and the next store, watching that key, is elected: within one TTL and a few round trips. A
 * leader that cannot reach etcd still believes it leads until etcd3 declares the lease lost (two
 * TTLs), so `leading()` also requires a successful keep-alive within the last two thirds of a
 * TTL: by then etcd may not yet have dropped the lease, so no other store can have been elected
 * while this one still renews (two leaders would renew the same ticket twice).
 */
import type { Campaign, Etcd3, Namespace } from 'etcd3';
import type { Leadership } from '../types';
import { RetryEverySecond } from './retry';

export class EtcdElection implements Leadership {
  private campaign: Campaign | undefined;
  private elected = false;
  /** When the campaign's lease was last confirmed alive by etcd (ms). */
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
    if (this.closed || this.campaign) return;
    this.lastAlive = 0;
    const c = this.ns.election('renewer', this.ttlSeconds).campaign(this.me);
    this.campaign = c;
    // etcd3 keeps the lease in the campaign; its keep-alives say until when the lease is surely alive.
    (c as unknown as { lease: NodeJS.EventEmitter }).lease.on('keepaliveSucceeded', () => (this.lastAlive = Date.now()));
    c.on('elected', () => {
      if (this.campaign !== c) return;
      this.elected = true;
      this.retry.worked();
      // Elected means our key and its lease exist at etcd now.
      this.lastAlive = Math.max(this.lastAlive, Date.now());
      this.log(`renewer: this store (${this.me}) is elected and renews the stored tickets (etcd lease TTL ${this.ttlSeconds} s)`);
    });
    c.on('error', (e: Error) => {
      if (this.campaign !== c) return;
      const was = this.elected;
      this.elected = false;
      this.campaign = undefined;
      void c.resign().catch(() => undefined);
      // Losing the lead is always said; failing to stand, once per outage.
      this.retry.failed(`renewer: ${was ? 'this store stopped renewing' : 'this store cannot stand for the renewer'}: ${e.message}; another store renews meanwhile; standing again every second`, () => this.start(), was);
    });
  }

  leading(): boolean {
    return this.elected && Date.now() - this.lastAlive < (this.ttlSeconds * 1000 * 2) / 3;
  }

  /** Resign (the lease is revoked: another store is elected at once). */
  async close(): Promise<void> {
    this.closed = true;
    this.retry.close();
    const c = this.campaign;
    this.campaign = undefined;
    this.elected = false;
    await c?.resign().catch(() => undefined);
  }
}
