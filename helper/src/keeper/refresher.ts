/**
 * The keeper's refresh cycle: every due job, one fresher ticket per user (source.ts), written in
 * place into each job's ccache (replace.ts), then the site's refresh command. A job whose ccache
 * is gone or was replaced by something else is forgotten; failures back off (the one refresh
 * schedule); renew-until reached is said once, then the store is polled for a fresh push.
 *
 * A job without a valid ticket (pending: its path reserved at start, nothing written; or its
 * ticket expired) is filled as soon as the credential can be had: while the store answers it is
 * asked every cycle (a user's fresh push reaches every such job within one cycle), or every
 * NEVER_HAD_POLL seconds for a job that never had one (a user who does not use Kerberos); while
 * the store cannot be reached, with back-off capped at TICKETLESS_MAX_RETRY seconds.
 */
import { ccacheBytesFromKrbCred, iso, type TicketInfo } from '../krb5';
import type { RefreshSchedule } from '../util/schedule';
import type { Job, JobTable } from './jobs';
import { replaceCcache } from './replace';
import { SourceOptions, freshTicket } from './source';

/** How often a job whose ticket can no longer be renewed (but is still valid) looks for a fresh push. */
const FINAL_POLL = 300;
/** How often a pending job that never had a ticket asks the store (its user may not use Kerberos). */
const NEVER_HAD_POLL = 30;
/** The longest back-off for a job without a valid ticket while the store cannot be reached. */
const TICKETLESS_MAX_RETRY = 15;

export interface RefresherStats {
  refreshes: number;
  /** Refresh attempts that failed (each one backs off). */
  failures: number;
  kdcRenewals: number;
  cycles: number;
  /** CPU (user+system) of the last refresh cycle, microseconds. */
  lastCycleCpuUs: number;
}

export interface RefresherOptions extends SourceOptions {
  stateDir: string;
  log: (line: string) => void;
  /** After each write into a job's ccache (the site's refresh command). */
  afterWrite: (j: Job, event: 'materialise' | 'refresh') => void;
}

export class Refresher {
  readonly stats: RefresherStats = { refreshes: 0, failures: 0, kdcRenewals: 0, cycles: 0, lastCycleCpuUs: 0 };

  constructor(
    private readonly o: RefresherOptions,
    private readonly table: JobTable,
    private readonly schedule: RefreshSchedule,
    private readonly now: () => number,
  ) {}

  /** One refresh cycle: every due job, one store request (or one KDC renewal) per user. */
  async cycle(): Promise<void> {
    const cpu0 = process.cpuUsage();
    this.table.scanRecords();
    const now = this.now();
    for (const [uid, list] of this.table.dueByUser(now)) {
      try {
        await this.refreshUser(uid, list, now);
      } catch (e) {
        for (const j of list) this.retry(j, now, `E_INTERNAL ${(e as Error).message}`);
      }
    }
    this.stats.cycles++;
    const cpu = process.cpuUsage(cpu0);
    this.stats.lastCycleCpuUs = cpu.user + cpu.system;
  }

  private async refreshUser(uid: number, list: Job[], now: number): Promise<void> {
    const fresh = await freshTicket(this.o, uid, list);
    if (!fresh.ok) {
      for (const j of list) {
        if (fresh.kind === 'failed') this.retry(j, now, fresh.why);
        else this.notFresher(j, now, fresh.why);
      }
      return;
    }
    if (fresh.fromKdc) this.stats.kdcRenewals++;
    const t = fresh.ticket;
    try {
      const fresher = list.filter((j) => t.endtime > j.endtime);
      for (const j of list) if (!fresher.includes(j)) this.notFresher(j, now, `${fresh.source} holds nothing fresher (its ticket ends ${iso(t.endtime)})`);
      if (fresher.length === 0) return;
      const bytes = ccacheBytesFromKrbCred(fresh.krbcred);
      try {
        for (const j of fresher) await this.write(j, bytes, t, fresh.source);
      } finally {
        bytes.fill(0);
      }
    } finally {
      fresh.krbcred.fill(0);
    }
  }

  private async write(j: Job, bytes: Buffer, t: TicketInfo, source: string): Promise<void> {
    const r = await replaceCcache(this.o.stateDir, j, bytes);
    if (r !== 'replaced') {
      this.table.forget(j.job);
      this.o.log(
        r === 'gone'
          ? `job ${j.job} uid ${j.uid}: its record is gone (job ended); no longer refreshed`
          : `job ${j.job} uid ${j.uid}: ${j.path} was removed or replaced by something else; left alone, no longer refreshed`,
      );
      return;
    }
    const wasFinal = j.final;
    const wasTicketless = j.pending || j.endtime <= this.now();
    const filled = j.pending;
    this.table.refreshed(j, t);
    this.stats.refreshes++;
    const how = filled
      ? `wrote ${j.path} (pending since the job started)`
      : `refreshed ${j.path}${wasTicketless ? ' (its ticket had expired)' : ''}${wasFinal ? ' (a new ticket after the old one could not be renewed)' : ''}`;
    this.o.log(`job ${j.job} uid ${j.uid} principal ${j.principal}: ${how} from ${source}; ticket valid until ${iso(j.endtime)}`);
    this.o.afterWrite(j, filled ? 'materialise' : 'refresh');
  }

  /** Nothing fresher to write: wait, or say once that this ticket's renewals are over. */
  private notFresher(j: Job, now: number, why: string): void {
    if (j.pending || j.endtime <= now) {
      // No valid ticket in the job: ask again next cycle (a fresh push), or slowly if it never had one.
      j.failures++;
      j.due = j.pending && j.principal === '?' ? now + NEVER_HAD_POLL : now;
      if (j.failures === 1) this.o.log(`job ${j.job} uid ${j.uid}: no valid ticket in ${j.path} yet (${why.trim()}); asking the store again ${j.due === now ? 'every cycle' : `every ${NEVER_HAD_POLL} s`}`);
      return;
    }
    if (j.renew_till <= j.endtime || j.renew_till <= now) {
      if (!j.final) {
        j.final = true;
        this.o.log(
          `job ${j.job} uid ${j.uid} principal ${j.principal}: the ticket can no longer be renewed (renew-until ${iso(j.renew_till)} reached); ` +
            `the job keeps it until it expires at ${iso(j.endtime)}; the user must kinit and push again for a new one`,
        );
      }
      j.due = Math.min(now + FINAL_POLL, j.endtime);
      return;
    }
    this.retry(j, now, why);
  }

  /** Back off (the schedule: 5 s doubling to 60 s); logged on the first try and then every minute or so. */
  private retry(j: Job, now: number, why: string): void {
    j.failures++;
    this.stats.failures++;
    const ticketless = j.pending || j.endtime <= now;
    // A valid ticket: back off, with a last attempt before it expires (then it is ticketless).
    // None: back off too, but never longer than TICKETLESS_MAX_RETRY.
    j.due = ticketless
      ? Math.min(now + TICKETLESS_MAX_RETRY, this.schedule.retry(now, j.failures, Number.MAX_SAFE_INTEGER))
      : this.schedule.retry(now, j.failures, j.endtime);
    const wait = j.due - now;
    if (j.failures === 1 || wait >= 60 || (ticketless && j.failures % 8 === 0)) {
      this.o.log(`job ${j.job} uid ${j.uid}: ${j.pending ? 'no ticket written yet' : 'not refreshed yet'} (${why.trim()}); trying again in ${wait} s`);
    }
  }

}
