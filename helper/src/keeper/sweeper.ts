/**
 * The keeper's sweep: remove the ccaches and records of jobs that no longer run on this node.
 * Only through job records (so only files materialise created), only when Slurm answered, never a
 * job whose record is newer than Slurm's answer (a job starting right now). Then what a crash left
 * behind: lock files of jobs without a record, temporary files of the atomic write in the state
 * directory, and the keeper's temporary ccaches (`.krb5cc_<uid>_<job>_*.tmp`, the uid's own
 * regular files) of jobs that do not run here; never anything younger than LEFTOVER_AGE_MS.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { jobsDir, readRecord } from '../node';
import { isTempName } from '../util/atomic';
import { lstatOrUndefined, unlinkQuiet } from '../util/fsafe';

/** A leftover must be at least this old (a write or a lock of right now is not one). */
const LEFTOVER_AGE_MS = 60_000;
const CCACHE_TEMP = /^\.krb5cc_(\d{1,10})_(\d{1,10})_[A-Za-z0-9]{6}\.[A-Za-z0-9]{10}\.tmp$/;

export interface SweeperOptions {
  stateDir: string;
  /** Where job ccaches are (the keeper's temporary files there are swept too). */
  ccacheDir?: string;
  /** Jobs running on this node, or why Slurm could not say. */
  runningJobs: () => Promise<Set<string> | { error: string }>;
  /** Destroy a job's ccache and record, as the epilog would. */
  destroy: (uid: number, job: string) => Promise<string>;
  log: (line: string) => void;
}

export class Sweeper {
  sweeps = 0;
  swept = 0;
  private slurmDown = false;

  constructor(private readonly o: SweeperOptions) {}

  async sweep(): Promise<number> {
    const asked = Date.now();
    const running = await this.o.runningJobs();
    if (!(running instanceof Set)) {
      if (!this.slurmDown) this.o.log(`sweep skipped: Slurm cannot say which jobs run here (${running.error}); nothing removed`);
      this.slurmDown = true;
      return 0;
    }
    if (this.slurmDown) this.o.log('sweep: Slurm answers again');
    this.slurmDown = false;
    this.sweeps++;
    let removed = 0;
    let names: string[];
    try {
      names = readdirSync(jobsDir(this.o.stateDir));
    } catch {
      return 0;
    }
    for (const job of names) {
      if (!/^\d{1,10}$/.test(job) || running.has(job)) continue;
      const st = lstatOrUndefined(join(jobsDir(this.o.stateDir), job));
      if (!st || st.mtimeMs >= asked - 1000) continue; // written while (or after) Slurm was asked
      try {
        const rec = readRecord(this.o.stateDir, job);
        if (!rec) continue;
        const msg = await this.o.destroy(rec.uid, job);
        removed++;
        this.o.log(`sweep: job ${job} (uid ${rec.uid}) no longer runs on this node: ${msg}`);
      } catch (e) {
        this.o.log(`sweep: job ${job}: ${(e as Error).message}`);
      }
    }
    this.swept += removed;
    this.sweepLeftovers(running, asked);
    return removed;
  }

  /** Lock files without a record, and temporary files a crash left (see above). */
  private sweepLeftovers(running: Set<string>, asked: number): void {
    const old = (path: string, uid?: number): boolean => {
      const st = lstatOrUndefined(path);
      return !!st && st.isFile() && (uid === undefined || st.uid === uid) && st.mtimeMs < asked - LEFTOVER_AGE_MS;
    };
    const gone: string[] = [];
    const jobs = jobsDir(this.o.stateDir);
    let names: string[] = [];
    try {
      names = readdirSync(jobs);
    } catch {
      /* no jobs dir: nothing to sweep */
    }
    for (const name of names) {
      const lock = /^(\d{1,10})\.lock$/.exec(name);
      const path = join(jobs, name);
      if (lock && !lstatOrUndefined(join(jobs, lock[1]!)) && !running.has(lock[1]!) && old(path)) gone.push(path);
      else if (isTempName(name) && old(path)) gone.push(path);
    }
    if (this.o.ccacheDir) {
      let cc: string[] = [];
      try {
        cc = readdirSync(this.o.ccacheDir);
      } catch {
        /* unreadable: nothing */
      }
      for (const name of cc) {
        const m = CCACHE_TEMP.exec(name);
        const path = join(this.o.ccacheDir, name);
        if (m && !running.has(String(Number(m[2]))) && old(path, Number(m[1]))) gone.push(path);
      }
    }
    for (const path of gone) {
      try {
        if (unlinkQuiet(path)) this.o.log(`sweep: removed ${path}, left by an interrupted job start or write`);
      } catch (e) {
        this.o.log(`sweep: cannot remove ${path}: ${(e as Error).message}`);
      }
    }
  }
}
