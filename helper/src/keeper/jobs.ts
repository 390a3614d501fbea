/**
 * The keeper's job table: every job ccache on the node that the keeper refreshes, learnt from the
 * job records in state_dir/jobs (the ones `krb5bridge materialise` writes, whoever ran it). Per job
 * it holds a path, the ticket's times and its refresh plan; no ticket bytes.
 */
import { readdirSync } from 'node:fs';
import { primaryTgt } from '../krb5';
import { isValidJobCcache, jobsDir, readRecord } from '../node';
import { lstatOrUndefined } from '../util/fsafe';
import type { RefreshSchedule } from '../util/schedule';
import { readJobCcache } from './ccread';

export interface Job {
  job: string;
  uid: number;
  gid: number;
  path: string;
  principal: string;
  endtime: number;
  renew_till: number;
  /** When the TGT now in the file was written or learnt (its life is measured from here). */
  since: number;
  due: number;
  failures: number;
  /** Renew-until reached (logged once): only a fresh push by the user can help now. */
  final: boolean;
  /** The job's path is reserved but nothing is written there yet (a pending record). */
  pending: boolean;
}

/** What the table learns of a ticket written into a job's ccache. */
export interface TicketTimes {
  client: string;
  endtime: number;
  renew_till: number;
}

export class JobTable {
  private readonly jobs = new Map<string, Job>();
  /** Records already reported as unusable (logged once, not every tick). */
  private readonly badRecords = new Set<string>();

  constructor(
    private readonly stateDir: string,
    private readonly schedule: RefreshSchedule,
    private readonly now: () => number,
    private readonly log: (line: string) => void,
  ) {}

  get size(): number {
    return this.jobs.size;
  }

  has(job: string): boolean {
    return this.jobs.has(job);
  }

  get(job: string): Job | undefined {
    return this.jobs.get(job);
  }

  all(): IterableIterator<Job> {
    return this.jobs.values();
  }

  forget(job: string): void {
    this.jobs.delete(job);
  }

  /** A ticket was just written into this job's ccache: track it, due a margin before its end. */
  track(f: { job: string; uid: number; gid: number; path: string }, t: TicketTimes): Job {
    const j: Job = { ...f, principal: t.client, endtime: t.endtime, renew_till: t.renew_till, since: this.now(), due: 0, failures: 0, final: false, pending: false };
    j.due = this.dueOf(j);
    this.jobs.set(f.job, j);
    return j;
  }

  /** A job whose path is reserved but not written (pending): due now, then as the refresher says. */
  trackPending(f: { job: string; uid: number; gid: number; path: string }): Job {
    const j: Job = { ...f, principal: '?', endtime: 0, renew_till: 0, since: this.now(), due: 0, failures: 0, final: false, pending: true };
    this.jobs.set(f.job, j);
    return j;
  }

  /** The job's ccache holds a new ticket: new times, a new plan. */
  refreshed(j: Job, t: TicketTimes): void {
    Object.assign(j, { principal: t.client, endtime: t.endtime, renew_till: t.renew_till, since: this.now(), failures: 0, final: false, pending: false });
    j.due = this.dueOf(j);
  }

  private dueOf(j: Job): number {
    return this.schedule.due({ endtime: j.endtime, since: j.since });
  }

  /** A job whose ccache someone else wrote (the CLI fallback, or before a restart): read its times. */
  learn(job: string, uid: number, path: string, gid?: number): void {
    const st = lstatOrUndefined(path);
    if (!st || !isValidJobCcache(path, uid)) return;
    let t: TicketTimes;
    try {
      const b = readJobCcache(path, uid);
      t = primaryTgt(b);
      b.krbcred.fill(0);
    } catch (e) {
      // Unreadable or expired: track it anyway, due now, so the store's ticket replaces it.
      t = { client: '?', endtime: 0, renew_till: 0 };
      this.log(`job ${job} uid ${uid}: cannot read ${path} (${(e as Error).message}); refreshing it from the store`);
    }
    const j = this.track({ job, uid, gid: gid ?? st.gid, path }, t);
    if (t.endtime === 0) j.due = 0;
  }

  /** Bring the table in line with the job records: new records are learnt, removed ones forgotten. */
  scanRecords(): void {
    let names: string[];
    try {
      names = readdirSync(jobsDir(this.stateDir));
    } catch {
      names = [];
    }
    const present = new Set<string>();
    for (const name of names) {
      if (!/^\d{1,10}$/.test(name)) continue;
      present.add(name);
      // A known job's record is re-read only when a refresh writes (replaceCcache, under the lock):
      // a record the CLI rewrote with a new path then makes it 'gone' and it is learnt again here.
      if (this.jobs.has(name)) continue;
      try {
        const rec = readRecord(this.stateDir, name);
        if (!rec) continue;
        if (rec.pending) this.trackPending({ job: name, uid: rec.uid, gid: rec.pending.gid, path: rec.path });
        else this.learn(name, rec.uid, rec.path);
      } catch (e) {
        if (!this.badRecords.has(name)) this.log(`job ${name}: record unusable (${(e as Error).message}); not tracked`);
        this.badRecords.add(name);
      }
    }
    for (const job of this.jobs.keys()) if (!present.has(job)) this.jobs.delete(job);
    for (const job of this.badRecords) if (!present.has(job)) this.badRecords.delete(job);
  }

  /**
   * The earliest time (Unix seconds) after `now` that a job falls due; undefined if none does. (A
   * job due at `now` or before was just handled and waits for the next regular cycle.)
   */
  nextDue(now: number): number | undefined {
    let next: number | undefined;
    for (const j of this.jobs.values()) if (j.due > now && (next === undefined || j.due < next)) next = j.due;
    return next;
  }

  /** The jobs due at `now`, by user: one store request (or KDC renewal) serves a user's jobs. */
  dueByUser(now: number): Map<number, Job[]> {
    const byUid = new Map<number, Job[]>();
    for (const j of this.jobs.values()) {
      if (now < j.due) continue;
      const list = byUid.get(j.uid) ?? [];
      list.push(j);
      byUid.set(j.uid, list);
    }
    return byUid;
  }
}
