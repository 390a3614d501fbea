/**
 * materialise (root, in slurmstepd, or the keeper for it): give job J of uid U its ccache in
 * ccache_dir. Reuse the one the job record names while it is intact; otherwise fetch the
 * credential and write it. When the credential cannot be had now (the store down or restarting,
 * slurmctld down, nothing stored yet) and the caller allows it, the job still gets its own path:
 * a random free name is reserved in a pending record, the job's KRB5CCNAME names it, and the
 * keeper writes the ccache there as soon as it can (eventual consistency). Every step of a job
 * shares one path. Nothing is left behind when a job gets no record (no lock file).
 */
import { join } from 'node:path';
import { Krb5BridgeError, isKrb5BridgeError } from '../errors';
import { ccacheBytesFromKrbCred, parseKrbCred, primaryTgt, type TicketInfo } from '../krb5';
import { writeFileAtomic } from '../util/atomic';
import { lstatOrUndefined, unlinkQuiet } from '../util/fsafe';
import { trace } from '../util/log';
import { checkCcacheDir, createJobCcache, isValidJobCcache, reserveJobCcache } from './ccfile';
import { parseGid, parseJob, parseUid, refuseRoot } from './ids';
import { withLock } from './lock';
import { JobRecord, ensureJobsDir, jobsDir, readRecord, recordPath, writeRecord } from './record';

export interface MaterialiseOptions {
  uid: number | string;
  gid: number | string;
  job: number | string;
  ccacheDir: string;
  stateDir: string;
  /** Returns uid's KRB-CRED; materialise wipes the buffer after use. */
  fetch: (uid: number) => Promise<Buffer>;
  /** When the fetch fails: reserve the job's path in a pending record instead of failing. */
  pendingOnFailure?: boolean;
  /** How long to wait for another step of the same job that holds the lock. */
  lockTimeoutMs?: number;
}

export interface MaterialiseResult {
  /** The job's ccache path (KRB5CCNAME=FILE:<path>). */
  path: string;
  /** The ticket this call wrote there. */
  ticket?: TicketInfo;
  /** An earlier step's ccache, reused. */
  reused?: boolean;
  /** Nothing written yet, and why: the keeper writes it as soon as it can. */
  pending?: Krb5BridgeError;
}

/** The job's record if it is usable for uid: ours, in ccache_dir; a complete one also needs its file intact. */
function usable(stateDir: string, job: string, uid: number, ccacheDir: string): JobRecord | undefined {
  const rec = readRecord(stateDir, job);
  if (!rec) return undefined;
  if (rec.uid !== uid) throw new Krb5BridgeError('E_STATE', `job record ${join(jobsDir(stateDir), job)} belongs to uid ${rec.uid}, not ${uid}`);
  if (!rec.path.startsWith(`${ccacheDir.replace(/\/+$/, '')}/`)) {
    trace(`record names ${rec.path}, outside ${ccacheDir}: writing a new ccache`);
    return undefined;
  }
  if (!rec.pending && !isValidJobCcache(rec.path, uid)) {
    trace(`${rec.path} is gone or not an intact ccache of uid ${uid} (never followed): writing a new one`);
    return undefined;
  }
  return rec;
}

/**
 * The one-line answer of materialise, for the plugin (the CLI's stdout, the keeper's `ok` line):
 * `KRB5CCNAME=FILE:<path>`, then, after a TAB, what the job's user is told at task start:
 * `ticket <principal> <endtime> <renew_till>` (written now) or `pending <E_CODE> <message>`.
 */
export function materialiseAnswer(r: MaterialiseResult): string {
  // Control characters (a TAB, a newline) would break the one-line answer.
  const oneLine = (s: string): string =>
    [...s]
      .map((ch) => (ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f ? ' ' : ch))
      .join('')
      .slice(0, 2000);
  let status = '';
  if (r.ticket) status = `\tticket ${oneLine(r.ticket.client)} ${r.ticket.endtime} ${r.ticket.renew_till}`;
  else if (r.pending) status = `\tpending ${r.pending.code} ${oneLine(r.pending.detail ?? r.pending.message)}`;
  return `KRB5CCNAME=FILE:${r.path}${status}`;
}

export async function materialise(opts: MaterialiseOptions): Promise<MaterialiseResult> {
  const uid = parseUid(opts.uid);
  const gid = parseGid(opts.gid);
  const job = parseJob(opts.job);
  refuseRoot(uid);
  checkCcacheDir(opts.ccacheDir);
  ensureJobsDir(opts.stateDir);

  const existing = usable(opts.stateDir, job, uid, opts.ccacheDir);
  if (existing && !existing.pending) {
    trace(`job ${job}: reusing ${existing.path}`);
    return { path: existing.path, reused: true };
  }
  const lockPath = join(jobsDir(opts.stateDir), `${job}.lock`);
  try {
    return await withLock(lockPath, opts.lockTimeoutMs ?? 30000, async (): Promise<MaterialiseResult> => {
      // Another step may have finished while we waited for the lock.
      const rec = usable(opts.stateDir, job, uid, opts.ccacheDir);
      if (rec && !rec.pending) {
        trace(`job ${job}: another step wrote ${rec.path}; reusing it`);
        return { path: rec.path, reused: true };
      }
      let krbcred: Buffer | undefined;
      let bytes: Buffer | undefined;
      let ticket: TicketInfo;
      try {
        trace(`job ${job}: fetching the credential of uid ${uid}`);
        krbcred = await opts.fetch(uid);
        ticket = primaryTgt(parseKrbCred(krbcred));
        bytes = ccacheBytesFromKrbCred(krbcred);
      } catch (e) {
        const err = isKrb5BridgeError(e) ? e : new Krb5BridgeError('E_INTERNAL', String(e), { cause: e });
        if (!opts.pendingOnFailure) throw err;
        const path = rec?.path ?? reserveJobCcache(opts.ccacheDir, uid, job);
        if (!rec) await writeRecord(opts.stateDir, job, { uid, path, pending: { gid } });
        trace(`job ${job}: ${err.code}; ${path} reserved, pending`);
        return { path, pending: err };
      } finally {
        krbcred?.fill(0);
      }
      let path: string;
      try {
        if (rec) {
          // A pending job's path is fixed (its KRB5CCNAME names it): written there, replacing without following.
          path = rec.path;
          await writeFileAtomic(path, bytes, { owner: { uid, gid }, what: 'job ccache', durable: false });
        } else {
          path = createJobCcache(opts.ccacheDir, uid, gid, job, bytes);
        }
      } finally {
        bytes.fill(0);
      }
      trace(`job ${job}: wrote ${path} (0600, ${uid}:${gid})`);
      try {
        await writeRecord(opts.stateDir, job, { uid, path });
      } catch (e) {
        if (!rec) unlinkQuiet(path);
        throw e;
      }
      trace(`job ${job}: record ${join(jobsDir(opts.stateDir), job)} written`);
      return { path, ticket };
    });
  } finally {
    // A job that got no record leaves nothing behind (the lock file withLock created).
    if (!lstatOrUndefined(recordPath(opts.stateDir, job))) unlinkQuiet(lockPath);
  }
}
