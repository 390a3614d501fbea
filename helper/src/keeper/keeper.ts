/**
 * The node keeper's work, without the socket: the job table (jobs.ts), the refresh cycle
 * (refresher.ts, with the store-or-KDC source in source.ts) and the sweep (sweeper.ts), sharing
 * the job records the CLI writes. Materialise and destroy for the plugin are the very code of
 * `krb5bridge materialise` and `destroy` (node/), so the keeper and the CLI fallback always agree.
 * One timer, never a busy loop; per job a few numbers and a path (no ticket bytes between refreshes).
 */
import { join } from 'node:path';
import type { RenewedTgt } from '../krb5';
import { destroy, jobsDir, materialise, type MaterialiseResult } from '../node';
import { withLock } from '../node/lock';
import { RefreshSchedule } from '../util/schedule';
import { runRefreshCommand } from './command';
import { Job, JobTable } from './jobs';
import { Refresher } from './refresher';
import type { Fetched } from './source';
import { Sweeper } from './sweeper';

export type { Fetched } from './source';

export interface KeeperOptions {
  stateDir: string;
  ccacheDir: string;
  /** Refresh a ccache this long before its TGT expires (at most a third of its life). */
  marginSeconds: number;
  /** uid's credential from the store (E_STORE_UNREACHABLE / E_STORE_TIMEOUT when it cannot answer). */
  fetch: (uid: number, job: string) => Promise<Fetched>;
  /** Renew at the KDC (only when the store cannot be reached). */
  renew: (krbcred: Buffer) => Promise<RenewedTgt>;
  /** Jobs running on this node, or why Slurm could not say. */
  runningJobs: () => Promise<Set<string> | { error: string }>;
  refreshCommand?: string | undefined;
  commandTimeoutMs?: number;
  /** The last refresh attempt is made this long before a job's ticket expires. */
  lastAttemptLead?: number;
  log: (line: string) => void;
  /** Unix seconds. */
  now?: () => number;
}

export interface KeeperStats {
  jobs: number;
  refreshes: number;
  failures: number;
  kdcRenewals: number;
  cycles: number;
  /** CPU (user+system) of the last refresh cycle, microseconds. */
  lastCycleCpuUs: number;
  sweeps: number;
  swept: number;
}

export class Keeper {
  private readonly table: JobTable;
  private readonly refresher: Refresher;
  private readonly sweeper: Sweeper;
  private readonly now: () => number;

  constructor(private readonly o: KeeperOptions) {
    const now = (this.now = o.now ?? (() => Math.floor(Date.now() / 1000)));
    // Half the store's margin is passed in: the store renews first, the keeper then finds the fresher ticket.
    const schedule = new RefreshSchedule({ marginSeconds: o.marginSeconds, lifeDivisor: 3, firstRetrySeconds: 5, maxRetrySeconds: 60, lastAttemptLead: o.lastAttemptLead ?? 12 });
    this.table = new JobTable(o.stateDir, schedule, now, o.log);
    this.refresher = new Refresher({ ...o, afterWrite: (j, event) => this.afterWrite(j, event) }, this.table, schedule, now);
    this.sweeper = new Sweeper({ stateDir: o.stateDir, ccacheDir: o.ccacheDir, runningJobs: o.runningJobs, destroy: (uid, job) => this.destroy(uid, job), log: o.log });
  }

  get size(): number {
    return this.table.size;
  }

  has(job: string): boolean {
    return this.table.has(job);
  }

  get stats(): KeeperStats {
    const r = this.refresher.stats;
    return { jobs: this.table.size, ...r, sweeps: this.sweeper.sweeps, swept: this.sweeper.swept };
  }

  /**
   * Materialise for the plugin: the very code of `krb5bridge materialise`, then track the job. A
   * credential that cannot be had now leaves the job pending: its path reserved, filled by the
   * refresh cycle as soon as it can be.
   */
  async materialise(uid: number, gid: number, job: string): Promise<MaterialiseResult> {
    const r = await materialise({
      uid,
      gid,
      job,
      ccacheDir: this.o.ccacheDir,
      stateDir: this.o.stateDir,
      fetch: async (u) => (await this.o.fetch(u, job)).krbcred,
      pendingOnFailure: true,
    });
    const known = this.table.get(job);
    if (r.ticket) this.afterWrite(this.table.track({ job, uid, gid, path: r.path }, r.ticket), 'materialise');
    else if (r.pending) {
      if (!known?.pending || known.path !== r.path) this.table.trackPending({ job, uid, gid, path: r.path });
      this.o.log(`job ${job} uid ${uid}: no ticket yet (${r.pending.code} ${r.pending.detail ?? r.pending.message}); ${r.path} reserved, written as soon as it can be`);
    } else if (!known || known.path !== r.path) this.table.learn(job, uid, r.path, gid);
    return r;
  }

  /** Destroy for the plugin: the code of `krb5bridge destroy`, then forget the job. */
  async destroy(uid: number, job: string): Promise<string> {
    const lockPath = join(jobsDir(this.o.stateDir), `${job}.lock`);
    const r = await withLock(lockPath, 10_000, async () => destroy({ uid, job, stateDir: this.o.stateDir }));
    if (this.table.get(job)?.uid === uid) this.table.forget(job);
    return r.message;
  }

  /** Bring the table in line with the job records. */
  scanRecords(): void {
    this.table.scanRecords();
  }

  /** When the next job falls due after now (Unix seconds); undefined if none does. */
  nextDue(): number | undefined {
    return this.table.nextDue(this.now());
  }

  /** One refresh cycle. */
  cycle(): Promise<void> {
    return this.refresher.cycle();
  }

  /** Remove what jobs that no longer run here left. */
  sweep(): Promise<number> {
    return this.sweeper.sweep();
  }

  private afterWrite(j: Job, event: 'materialise' | 'refresh'): void {
    const command = this.o.refreshCommand;
    if (!command) return;
    void runRefreshCommand({ command, uid: j.uid, gid: j.gid, job: j.job, ccache: j.path, event, timeoutMs: this.o.commandTimeoutMs ?? 30_000 }).then((r) => {
      if (!r.ok) this.o.log(`job ${j.job} uid ${j.uid}: refresh_command ${command} (${event}) failed: ${r.what}`);
    });
  }
}
