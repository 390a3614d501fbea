/**
 * The store's renewer: it renews each stored TGT at the KDC a margin before it expires (jittered,
 * so renewals spread out), until its renew-until. One KDC request per user per renewal, however
 * many jobs and nodes use the credential: the keepers take the renewed ticket from the store.
 * A credential that can no longer be renewed is kept while it is valid, then dropped. Every event
 * is one log line naming the uid, the principal and the reason; never ticket bytes.
 */
import type { Audit, AuditEvent } from './audit';
import { isKrb5BridgeError, Krb5BridgeError } from '../errors';
import { iso } from '../krb5/renew';
import type { RenewedTgt } from '../krb5';
import { StatePaths, deleteRecord, writeRecord } from './persist';
import { CredRecord, CredState } from './state';

export interface RenewerOptions {
  state: CredState;
  paths: StatePaths;
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
  /** The audit log: one `refresh` line per renewal attempt that ends, one `drop` per removal. */
  audit?: Audit;
  write?: (p: StatePaths, r: CredRecord) => Promise<void>;
  remove?: (p: StatePaths, uid: number) => Promise<void>;
}

interface Plan {
  /** The record this plan was made for (a push replaces the object: the plan is then redone). */
  rec: CredRecord;
  due: number;
  failures: number;
  /** Renewal is over for this record: it is kept until it expires, then dropped. */
  final: boolean;
}

const MAX_BACKOFF = 300;

export class Renewer {
  private readonly plans = new Map<number, Plan>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly write: (p: StatePaths, r: CredRecord) => Promise<void>;
  private readonly remove: (p: StatePaths, uid: number) => Promise<void>;
  /** Renewals asked of the KDC since start (for tests and metrics). */
  kdcRequests = 0;

  constructor(private readonly o: RenewerOptions) {
    this.now = o.now ?? (() => Math.floor(Date.now() / 1000));
    this.random = o.random ?? Math.random;
    this.write = o.write ?? writeRecord;
    this.remove = o.remove ?? deleteRecord;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Stop ticking; resolves when a cycle under way has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.cycle().finally(() => {
        this.running = undefined;
        this.schedule(this.o.tickMs ?? 5_000);
      });
    }, ms);
    this.timer.unref();
  }

  /** When to renew: `margin` before the end, minus up to a quarter of it at random. */
  private planFor(rec: CredRecord): Plan {
    const left = Math.max(2, rec.endtime - rec.stored_at);
    const margin = Math.max(1, Math.min(this.o.marginSeconds, Math.floor(left / 2)));
    const due = rec.endtime - margin - Math.floor(this.random() * (margin / 4));
    return { rec, due, failures: 0, final: false };
  }

  /** One pass over the stored credentials: renew or drop those that are due. */
  async cycle(): Promise<void> {
    const now = this.now();
    const seen = new Set<number>();
    for (const rec of this.o.state.all()) {
      seen.add(rec.uid);
      let plan = this.plans.get(rec.uid);
      if (!plan || plan.rec !== rec) this.plans.set(rec.uid, (plan = this.planFor(rec)));
      if (now < plan.due) continue;
      try {
        await this.handle(plan, now);
      } catch (e) {
        // Never let one record stop the others (a write failing, say); try it again later.
        plan.due = now + 30;
        this.o.log(`op=renew uid=${rec.uid} principal=${rec.principal} result=E_INTERNAL ${(e as Error).message}; trying again in 30 s`);
      }
    }
    for (const uid of this.plans.keys()) if (!seen.has(uid)) this.plans.delete(uid);
  }

  private async handle(plan: Plan, now: number): Promise<void> {
    const rec = plan.rec;
    const who = `uid=${rec.uid} principal=${rec.principal}`;
    if (rec.endtime <= now) {
      await this.drop(rec, `expired at ${iso(rec.endtime)}; the user must kinit and submit again`);
      return;
    }
    if (plan.final) {
      plan.due = rec.endtime;
      return;
    }
    if (rec.renew_till <= rec.endtime) {
      this.giveUp(plan, rec.renew_till === 0 ? 'the ticket is not renewable' : `its renew-until time ${iso(rec.renew_till)} is reached`);
      return;
    }
    let renewed: RenewedTgt;
    try {
      this.kdcRequests++;
      renewed = await this.o.renew(Buffer.from(rec.creds, 'base64'));
    } catch (e) {
      const err = isKrb5BridgeError(e) ? e : new Krb5BridgeError('E_INTERNAL', String(e));
      if (err.code === 'E_NOT_RENEWABLE' || err.code === 'E_TICKET_EXPIRED') {
        this.giveUp(plan, err.detail ?? err.message);
        return;
      }
      plan.failures++;
      this.audit({ op: 'refresh', result: 'error', code: err.code, target_uid: rec.uid, principal: rec.principal });
      const wait = Math.min(MAX_BACKOFF, 5 * 2 ** Math.min(plan.failures, 8));
      plan.due = Math.min(now + wait, rec.endtime);
      this.o.log(`op=renew ${who} result=${err.code} ${err.detail ?? err.message}; trying again in ${plan.due - now} s`);
      return;
    }
    const next: CredRecord = {
      ...rec,
      endtime: renewed.ticket.endtime,
      renew_till: renewed.ticket.renew_till,
      authtime: renewed.ticket.authtime,
      stored_at: this.now(),
      creds: renewed.krbcred.toString('base64'),
    };
    renewed.krbcred.fill(0);
    if (this.o.state.get(rec.uid) !== rec) {
      this.o.log(`op=renew ${who} result=ok discarded: a push replaced the credential meanwhile`);
      return;
    }
    await this.write(this.o.paths, next);
    const current = this.o.state.get(rec.uid);
    if (current === rec) this.o.state.set(next);
    else if (current) await this.write(this.o.paths, current); // a push landed meanwhile: its record wins on disk too
    this.o.log(`op=renew ${who} result=ok endtime=${iso(next.endtime)} renew_till=${iso(next.renew_till)}`);
    this.audit({ op: 'refresh', result: 'ok', target_uid: rec.uid, principal: rec.principal });
  }

  private audit(e: Omit<AuditEvent, 'mech'>): void {
    this.o.audit?.record({ ...e, mech: 'renewer' });
  }

  private giveUp(plan: Plan, why: string): void {
    const rec = plan.rec;
    plan.final = true;
    plan.due = rec.endtime;
    this.o.log(`op=renew uid=${rec.uid} principal=${rec.principal} result=E_NOT_RENEWABLE ${why}; kept until it expires at ${iso(rec.endtime)}, then dropped`);
    this.audit({ op: 'refresh', result: 'refused', code: 'E_NOT_RENEWABLE', target_uid: rec.uid, principal: rec.principal });
  }

  private async drop(rec: CredRecord, why: string): Promise<void> {
    if (this.o.state.get(rec.uid) !== rec) return; // replaced meanwhile: the next cycle plans the new one
    await this.remove(this.o.paths, rec.uid);
    const current = this.o.state.get(rec.uid);
    if (current === rec) this.o.state.delete(rec.uid);
    else if (current) await this.write(this.o.paths, current); // a push landed meanwhile: put it back on disk
    this.plans.delete(rec.uid);
    this.o.log(`op=drop uid=${rec.uid} principal=${rec.principal} result=ok ${why}`);
    this.audit({ op: 'drop', result: 'ok', target_uid: rec.uid, principal: rec.principal });
  }
}
