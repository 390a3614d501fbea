/**
 * The keeper's sweep: remove the ccaches and records of jobs that no longer run on this node.
 * Only through job records (so only files materialise created), only when Slurm answered, never a
 * job whose record is newer than Slurm's answer (a job starting right now).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { jobsDir, readRecord } from '../node';
import { lstatOrUndefined } from '../util/fsafe';

export interface SweeperOptions {
  stateDir: string;
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
    return removed;
  }
}
