/**
 * The store's renewer: it renews each stored TGT at the KDC a margin before it expires (the one
 * refresh schedule, util/schedule.ts: jittered, so renewals spread out), until its renew-until.
 * One KDC request per user per renewal, however many jobs and nodes use the credential: the
 * keepers take the renewed ticket from the store. Due renewals run side by side (krb5/renew.ts
 * bounds how many at once, how fast, and how long each may take), so a hung KDC exchange delays
 * no other user. A failed renewal is tried again sooner as expiry nears, with one last attempt
 * just before it; only then, at expiry, is the ticket dropped. A credential that can no longer be
 * renewed is kept while it is valid, then dropped. A renewed ticket replaces the stored one only
 * if that is still the one renewed (compare-and-swap on its version): a push landing meanwhile
 * wins; if the storage cannot take it (disk full), it is kept and served from memory while the
 * write is retried (records/view.ts). Every event is one log line naming the uid, the principal
 * and the reason; never ticket bytes.
 */
import type { Audit, AuditEvent } from '../audit/audit';
import { isKrb5BridgeError, Krb5BridgeError } from '../errors';
import { iso, type RenewedTgt } from '../krb5';
import type { Leadership, RecordEntry, RecordStore, StoredCredential } from '../records/types';
import { RefreshSchedule } from '../util/schedule';

export interface RenewerOptions {
  records: RecordStore;
  log: (line: string) => void;
  /** Renew this long before expiry; at most half of what the ticket had left when stored. */
  marginSeconds: number;
  /** How often due records are looked for. */
  tickMs?: number;
  /** Unix seconds. */
  now?: () => number;
  /** [0, 1). */
  random?: () => number;
  renew: (krbcred: Buffer) => Promise<RenewedTgt>;
  /** The last attempt is made this long before a ticket expires (one KDC exchange's timeout and a little). */
  lastAttemptLead?: number;
  /** The audit log: one `refresh` line per renewal attempt that ends, one `drop` per removal. */
  audit?: Audit;
  /** Several stores share the records: renew (and drop) only while this one leads (records/etcd/election.ts). */
  leadership?: Leadership | undefined;
}

interface Plan {
  /** The record version this plan was made for (a push changes it: the plan is then redone). */
  version: string;
  due: number;
  failures: number;
  /** Renewal is over for this record: it is kept until it expires, then dropped. */
  final: boolean;
  /** A renewal of it is under way. */
  busy?: boolean;
}

export class Renewer {
  private readonly plans = new Map<number, Plan>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private readonly now: () => number;
  private readonly schedule: RefreshSchedule;
  private readonly unwatch: () => void;
  /** Renewals asked of the KDC since start (for tests and metrics). */
  kdcRequests = 0;

  constructor(private readonly o: RenewerOptions) {
    this.now = o.now ?? (() => Math.floor(Date.now() / 1000));
    this.schedule = new RefreshSchedule({
      marginSeconds: o.marginSeconds,
      lifeDivisor: 2,
      jitterDivisor: 4,
      firstRetrySeconds: 10,
      maxRetrySeconds: 300,
      lastAttemptLead: o.lastAttemptLead ?? 12,
      random: o.random,
    });
    // A changed or removed record is planned anew on the next cycle.
    this.unwatch = o.records.watch((c) => {
      if (this.plans.get(c.uid)?.version !== c.entry?.version) this.plans.delete(c.uid);
    });
  }

  start(): void {
    this.stopped = false;
    this.tick(0);
  }

  /** Stop ticking; resolves when a cycle under way has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unwatch();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private tick(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.cycle().finally(() => {
        this.running = undefined;
        this.tick(this.o.tickMs ?? 5_000);
      });
    }, ms);
    this.timer.unref();
  }

  private planFor(e: RecordEntry): Plan {
    return { version: e.version, due: this.schedule.due({ endtime: e.cred.endtime, since: e.cred.stored_at }), failures: 0, final: false };
  }

  /** One pass over the stored credentials: renew or drop those that are due, side by side. */
  async cycle(): Promise<void> {
    // Another store leads: it renews; this one keeps its plans (records change under its watch).
    if (this.o.leadership && !this.o.leadership.leading()) return;
    const now = this.now();
    const seen = new Set<number>();
    const due: Promise<void>[] = [];
    for (const entry of this.o.records.list()) {
      const uid = entry.cred.uid;
      seen.add(uid);
      // Leadership can end during a cycle: no KDC request is started after it did.
      if (this.o.leadership && !this.o.leadership.leading()) continue;
      let plan = this.plans.get(uid);
      if (!plan || plan.version !== entry.version) this.plans.set(uid, (plan = this.planFor(entry)));
      if (now < plan.due || plan.busy) continue;
      const p = plan;
      p.busy = true;
      due.push(
        this.handle(entry, p, now)
          .catch((e: unknown) => {
            // Never let one record stop the others; try it again later.
            p.due = now + 30;
            this.o.log(`op=renew uid=${uid} principal=${entry.cred.principal} result=${isKrb5BridgeError(e) ? e.code : 'E_INTERNAL'} ${(e as Error).message}; trying again in 30 s`);
          })
          .finally(() => (p.busy = false)),
      );
    }
    for (const uid of this.plans.keys()) if (!seen.has(uid)) this.plans.delete(uid);
    await Promise.all(due);
  }

  private async handle(entry: RecordEntry, plan: Plan, now: number): Promise<void> {
    const rec = entry.cred;
    const who = `uid=${rec.uid} principal=${rec.principal}`;
    if (rec.endtime <= now) {
      await this.drop(entry, `expired at ${iso(rec.endtime)}; the user must kinit and submit again`);
      return;
    }
    if (plan.final) {
      plan.due = rec.endtime;
      return;
    }
    if (rec.renew_till <= rec.endtime) {
      this.giveUp(rec, plan, rec.renew_till === 0 ? 'the ticket is not renewable' : `its renew-until time ${iso(rec.renew_till)} is reached`);
      return;
    }
    let renewed: RenewedTgt;
    try {
      this.kdcRequests++;
      renewed = await this.o.renew(Buffer.from(rec.creds, 'base64'));
    } catch (e) {
      const err = isKrb5BridgeError(e) ? e : new Krb5BridgeError('E_INTERNAL', String(e));
      if (err.code === 'E_NOT_RENEWABLE' || err.code === 'E_TICKET_EXPIRED') {
        this.giveUp(rec, plan, err.detail ?? err.message);
        return;
      }
      plan.failures++;
      this.audit({ op: 'refresh', result: 'error', code: err.code, target_uid: rec.uid, principal: rec.principal });
      const at = this.now();
      plan.due = this.schedule.retry(at, plan.failures, rec.endtime);
      const next = plan.due >= rec.endtime ? `that was the last attempt; kept until it expires at ${iso(rec.endtime)}` : `trying again in ${plan.due - at} s`;
      this.o.log(`op=renew ${who} result=${err.code} ${err.detail ?? err.message}; ${next}`);
      return;
    }
    const next: StoredCredential = {
      ...rec,
      endtime: renewed.ticket.endtime,
      renew_till: renewed.ticket.renew_till,
      authtime: renewed.ticket.authtime,
      stored_at: this.now(),
      creds: renewed.krbcred.toString('base64'),
    };
    renewed.krbcred.fill(0);
    // A full disk must not cost the renewed ticket: kept in memory and served while the write is retried.
    const r = await this.o.records.put(next, { kind: 'version', version: entry.version }, { keepUnsaved: true });
    if (!r.written) {
      this.o.log(`op=renew ${who} result=ok discarded: a push replaced the credential meanwhile`);
      return;
    }
    this.o.log(`op=renew ${who} result=ok endtime=${iso(next.endtime)} renew_till=${iso(next.renew_till)}${r.unsaved ? ' (kept in memory: the storage refuses writes)' : ''}`);
    this.audit({ op: 'refresh', result: 'ok', target_uid: rec.uid, principal: rec.principal });
  }

  private audit(e: Omit<AuditEvent, 'mech'>): void {
    this.o.audit?.record({ ...e, mech: 'renewer' });
  }

  private giveUp(rec: StoredCredential, plan: Plan, why: string): void {
    plan.final = true;
    plan.due = rec.endtime;
    this.o.log(`op=renew uid=${rec.uid} principal=${rec.principal} result=E_NOT_RENEWABLE ${why}; kept until it expires at ${iso(rec.endtime)}, then dropped`);
    this.audit({ op: 'refresh', result: 'refused', code: 'E_NOT_RENEWABLE', target_uid: rec.uid, principal: rec.principal });
  }

  private async drop(entry: RecordEntry, why: string): Promise<void> {
    const rec = entry.cred;
    // Only the record that expired: a push landing meanwhile stays (the next cycle plans it).
    if (!(await this.o.records.delete(rec.uid, entry.version))) return;
    this.plans.delete(rec.uid);
    this.o.log(`op=drop uid=${rec.uid} principal=${rec.principal} result=ok ${why}`);
    this.audit({ op: 'drop', result: 'ok', target_uid: rec.uid, principal: rec.principal });
  }
}
