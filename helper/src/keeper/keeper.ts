/**
 * The node keeper's work, without the socket: it knows every job ccache on the node (job records
 * in state_dir/jobs, the same ones `krb5bridge materialise` writes), refreshes each one in place
 * before its TGT expires (from the store; from the KDC only when the store cannot be reached),
 * and removes the ccaches of jobs that no longer run here. One timer, never a busy loop; per job
 * it holds a few numbers and a path (no ticket bytes between refreshes).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Krb5BridgeError, isKrb5BridgeError } from '../errors';
import { ccacheBytesFromKrbCred, parseKrbCred, primaryTgt, type RenewedTgt, type TicketInfo } from '../krb5';
import { iso } from '../krb5/renew';
import { destroy, isValidJobCcache, jobsDir, materialise, readRecord } from '../node';
import { withLock } from '../node/lock';
import { lstatOrUndefined } from '../util/fsafe';
import { readJobCcache } from './ccread';
import { runRefreshCommand } from './command';
import { replaceCcache } from './replace';

export interface Fetched {
  krbcred: Buffer;
}

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
  log: (line: string) => void;
  /** Unix seconds. */
  now?: () => number;
}

interface Job {
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
}

const MIN_RETRY = 5;
const MAX_RETRY = 60;
const FINAL_POLL = 300;
const STORE_DOWN = new Set(['E_STORE_UNREACHABLE', 'E_STORE_TIMEOUT']);

export interface KeeperStats {
  jobs: number;
  refreshes: number;
  kdcRenewals: number;
  cycles: number;
  /** CPU (user+system) of the last refresh cycle, microseconds. */
  lastCycleCpuUs: number;
  sweeps: number;
  swept: number;
}

export class Keeper {
  private readonly jobs = new Map<string, Job>();
  private readonly now: () => number;
  readonly stats: KeeperStats = { jobs: 0, refreshes: 0, kdcRenewals: 0, cycles: 0, lastCycleCpuUs: 0, sweeps: 0, swept: 0 };
  private slurmDown = false;
  /** Records already reported as unusable (logged once, not every tick). */
  private readonly badRecords = new Set<string>();

  constructor(private readonly o: KeeperOptions) {
    this.now = o.now ?? (() => Math.floor(Date.now() / 1000));
  }

  get size(): number {
    return this.jobs.size;
  }

  has(job: string): boolean {
    return this.jobs.has(job);
  }

  /** Materialise for the plugin: the very code of `krb5bridge materialise`, then track the job. */
  async materialise(uid: number, gid: number, job: string): Promise<string> {
    let fetched: TicketInfo | undefined;
    const path = await materialise({
      uid,
      gid,
      job,
      ccacheDir: this.o.ccacheDir,
      stateDir: this.o.stateDir,
      fetch: async (u) => {
        const f = await this.o.fetch(u, job);
        fetched = primaryTgt(parseKrbCred(f.krbcred));
        return f.krbcred;
      },
    });
    const known = this.jobs.get(job);
    if (fetched) this.track({ job, uid, gid, path }, fetched);
    else if (!known || known.path !== path) this.learn(job, uid, path, gid);
    if (fetched) this.afterWrite(this.jobs.get(job)!, 'materialise');
    return path;
  }

  /** Destroy for the plugin: the code of `krb5bridge destroy`, then forget the job. */
  async destroy(uid: number, job: string): Promise<string> {
    const lockPath = join(jobsDir(this.o.stateDir), `${job}.lock`);
    const r = await withLock(lockPath, 10_000, async () => destroy({ uid, job, stateDir: this.o.stateDir }));
    const known = this.jobs.get(job);
    if (known && known.uid === uid) this.jobs.delete(job);
    this.stats.jobs = this.jobs.size;
    return r.message;
  }

  private track(f: { job: string; uid: number; gid: number; path: string }, t: { principal?: string; client: string; endtime: number; renew_till: number }): Job {
    const now = this.now();
    const j: Job = { ...f, principal: t.client, endtime: t.endtime, renew_till: t.renew_till, since: now, due: 0, failures: 0, final: false };
    j.due = this.dueOf(j);
    this.jobs.set(f.job, j);
    this.stats.jobs = this.jobs.size;
    return j;
  }

  private dueOf(j: Job): number {
    const life = Math.max(3, j.endtime - j.since);
    const margin = Math.max(1, Math.min(this.o.marginSeconds, Math.floor(life / 3)));
    return j.endtime - margin;
  }

  /** A job whose ccache someone else wrote (the CLI fallback, or before a restart): read its times. */
  private learn(job: string, uid: number, path: string, gid?: number): void {
    const st = lstatOrUndefined(path);
    if (!st || !isValidJobCcache(path, uid)) return;
    let t: { client: string; endtime: number; renew_till: number };
    try {
      const b = readJobCcache(path, uid);
      t = primaryTgt(b);
      b.krbcred.fill(0);
    } catch (e) {
      // Unreadable or expired: track it anyway, due now, so the store's ticket replaces it.
      t = { client: '?', endtime: 0, renew_till: 0 };
      this.o.log(`job ${job} uid ${uid}: cannot read ${path} (${(e as Error).message}); refreshing it from the store`);
    }
    const j = this.track({ job, uid, gid: gid ?? st.gid, path }, t);
    if (t.endtime === 0) j.due = 0;
  }

  /** Bring the table in line with the job records: new records are learnt, removed ones forgotten. */
  scanRecords(): void {
    let names: string[];
    try {
      names = readdirSync(jobsDir(this.o.stateDir));
    } catch {
      names = [];
    }
    const present = new Set<string>();
    for (const name of names) {
      if (!/^\d{1,10}$/.test(name)) continue;
      present.add(name);
      const known = this.jobs.get(name);
      // A known job's record is re-read only when a refresh writes (replaceCcache, under the lock):
      // a record the CLI rewrote with a new path then makes it 'gone' and it is learnt again here.
      if (known) continue;
      try {
        const rec = readRecord(this.o.stateDir, name);
        if (!rec) continue;
        this.learn(name, rec.uid, rec.path);
      } catch (e) {
        if (!this.badRecords.has(name)) this.o.log(`job ${name}: record unusable (${(e as Error).message}); not tracked`);
        this.badRecords.add(name);
      }
    }
    for (const job of this.jobs.keys()) if (!present.has(job)) this.jobs.delete(job);
    for (const job of this.badRecords) if (!present.has(job)) this.badRecords.delete(job);
    this.stats.jobs = this.jobs.size;
  }

  /** One refresh cycle: every due job, one store request (or one KDC renewal) per user. */
  async cycle(): Promise<void> {
    const cpu0 = process.cpuUsage();
    this.scanRecords();
    const now = this.now();
    const byUid = new Map<number, Job[]>();
    for (const j of this.jobs.values()) {
      if (now < j.due) continue;
      const list = byUid.get(j.uid) ?? [];
      list.push(j);
      byUid.set(j.uid, list);
    }
    for (const [uid, list] of byUid) {
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
    let krbcred: Buffer | undefined;
    let t: TicketInfo | undefined;
    let source = 'the store';
    try {
      krbcred = (await this.o.fetch(uid, list[0]!.job)).krbcred;
      t = primaryTgt(parseKrbCred(krbcred));
    } catch (e) {
      const err = isKrb5BridgeError(e) ? e : new Krb5BridgeError('E_INTERNAL', String(e));
      if (!STORE_DOWN.has(err.code)) {
        // The store answered but has nothing better (dropped, removed): no KDC behind its back.
        for (const j of list) this.notFresher(j, now, `${err.code} ${err.detail ?? err.message}`);
        return;
      }
      // The store cannot be reached: renew the job's own ticket at the KDC, once for this user.
      const j = list.find((x) => isValidJobCcache(x.path, x.uid));
      if (!j) return;
      try {
        const b = readJobCcache(j.path, uid);
        const renewed = await this.o.renew(b.krbcred);
        b.krbcred.fill(0);
        this.stats.kdcRenewals++;
        krbcred = renewed.krbcred;
        t = renewed.ticket;
        source = 'the KDC (the store is unreachable)';
      } catch (e2) {
        const err2 = isKrb5BridgeError(e2) ? e2 : new Krb5BridgeError('E_INTERNAL', String(e2));
        for (const x of list) {
          if (err2.code === 'E_NOT_RENEWABLE' || err2.code === 'E_TICKET_EXPIRED') this.notFresher(x, now, `${err.code} and ${err2.code} ${err2.detail ?? ''}`);
          else this.retry(x, now, `${err.code} ${err.detail ?? ''}; KDC renewal failed too: ${err2.code} ${err2.detail ?? ''}`);
        }
        return;
      }
    }
    try {
      const fresher = list.filter((j) => t!.endtime > j.endtime);
      for (const j of list) if (!fresher.includes(j)) this.notFresher(j, now, `${source} holds nothing fresher (its ticket ends ${iso(t!.endtime)})`);
      if (fresher.length === 0) return;
      const bytes = ccacheBytesFromKrbCred(krbcred!);
      try {
        for (const j of fresher) await this.write(j, bytes, t!, source);
      } finally {
        bytes.fill(0);
      }
    } finally {
      krbcred?.fill(0);
    }
  }

  private async write(j: Job, bytes: Buffer, t: TicketInfo, source: string): Promise<void> {
    const r = await replaceCcache(this.o.stateDir, j, bytes);
    if (r !== 'replaced') {
      this.jobs.delete(j.job);
      this.stats.jobs = this.jobs.size;
      this.o.log(
        r === 'gone'
          ? `job ${j.job} uid ${j.uid}: its record is gone (job ended); no longer refreshed`
          : `job ${j.job} uid ${j.uid}: ${j.path} was removed or replaced by something else; left alone, no longer refreshed`,
      );
      return;
    }
    const wasFinal = j.final;
    Object.assign(j, { principal: t.client, endtime: t.endtime, renew_till: t.renew_till, since: this.now(), failures: 0, final: false });
    j.due = this.dueOf(j);
    this.stats.refreshes++;
    this.o.log(`job ${j.job} uid ${j.uid} principal ${j.principal}: refreshed ${j.path} from ${source}; ticket valid until ${iso(j.endtime)}${wasFinal ? ' (a new ticket after the old one could not be renewed)' : ''}`);
    this.afterWrite(j, 'refresh');
  }

  /** Nothing fresher to write: wait, or say once that this ticket's renewals are over. */
  private notFresher(j: Job, now: number, why: string): void {
    if (j.renew_till <= j.endtime || j.renew_till <= now) {
      if (!j.final) {
        j.final = true;
        this.o.log(
          `job ${j.job} uid ${j.uid} principal ${j.principal}: the ticket can no longer be renewed (renew-until ${iso(j.renew_till)} reached); ` +
            `the job keeps it until it expires at ${iso(j.endtime)}; the user must kinit and push again for a new one`,
        );
      }
      j.due = now + FINAL_POLL;
      return;
    }
    this.retry(j, now, why);
  }

  /** Back off: 5 s doubling to 60 s; a failure is logged on the first try and then every minute or so. */
  private retry(j: Job, now: number, why: string): void {
    j.failures++;
    const wait = Math.min(MAX_RETRY, MIN_RETRY * 2 ** Math.min(j.failures - 1, 6));
    j.due = now + wait;
    if (j.failures === 1 || wait === MAX_RETRY) this.o.log(`job ${j.job} uid ${j.uid}: not refreshed yet (${why.trim()}); trying again in ${wait} s`);
  }

  private afterWrite(j: Job, event: 'materialise' | 'refresh'): void {
    const command = this.o.refreshCommand;
    if (!command) return;
    void runRefreshCommand({ command, uid: j.uid, gid: j.gid, job: j.job, ccache: j.path, event, timeoutMs: this.o.commandTimeoutMs ?? 30_000 }).then((r) => {
      if (!r.ok) this.o.log(`job ${j.job} uid ${j.uid}: refresh_command ${command} (${event}) failed: ${r.what}`);
    });
  }

  /**
   * Remove the ccaches and records of jobs that no longer run on this node. Only through job
   * records (so only files materialise created), only when Slurm answered, never a job whose
   * record is newer than Slurm's answer.
   */
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
    this.stats.sweeps++;
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
        const msg = await this.destroy(rec.uid, job);
        removed++;
        this.o.log(`sweep: job ${job} (uid ${rec.uid}) no longer runs on this node: ${msg}`);
      } catch (e) {
        this.o.log(`sweep: job ${job}: ${(e as Error).message}`);
      }
    }
    this.stats.swept += removed;
    return removed;
  }
}
