/**
 * materialise (root, in slurmstepd): give job J of uid U a ccache in ccache_dir. Reuse the one the
 * job record names while it is still intact; otherwise fetch, write a new file, then the record.
 */
import { join } from 'node:path';
import { Krb5BridgeError } from '../errors';
import { ccacheBytesFromKrbCred } from '../krb5';
import { trace } from '../util/log';
import { checkCcacheDir, createJobCcache, isValidJobCcache } from './ccfile';
import { parseGid, parseJob, parseUid, refuseRoot } from './ids';
import { withLock } from './lock';
import { unlinkQuiet } from '../util/fsafe';
import { ensureJobsDir, jobsDir, readRecord, writeRecord } from './record';

export interface MaterialiseOptions {
  uid: number | string;
  gid: number | string;
  job: number | string;
  ccacheDir: string;
  stateDir: string;
  /** Returns uid's KRB-CRED; materialise wipes the buffer after use. */
  fetch: (uid: number) => Promise<Buffer>;
  /** How long to wait for another step of the same job that holds the lock. */
  lockTimeoutMs?: number;
}

/** The reusable ccache the record names, or undefined (no record, or the file is not intact). */
function reusable(stateDir: string, job: string, uid: number, ccacheDir: string): string | undefined {
  const rec = readRecord(stateDir, job);
  if (!rec) return undefined;
  if (rec.uid !== uid) throw new Krb5BridgeError('E_STATE', `job record ${join(jobsDir(stateDir), job)} belongs to uid ${rec.uid}, not ${uid}`);
  if (!rec.path.startsWith(`${ccacheDir.replace(/\/+$/, '')}/`)) {
    trace(`record names ${rec.path}, outside ${ccacheDir}: writing a new ccache`);
    return undefined;
  }
  if (!isValidJobCcache(rec.path, uid)) {
    trace(`${rec.path} is gone or not an intact ccache of uid ${uid} (never followed): writing a new one`);
    return undefined;
  }
  return rec.path;
}

export async function materialise(opts: MaterialiseOptions): Promise<string> {
  const uid = parseUid(opts.uid);
  const gid = parseGid(opts.gid);
  const job = parseJob(opts.job);
  refuseRoot(uid);
  checkCcacheDir(opts.ccacheDir);
  ensureJobsDir(opts.stateDir);

  const existing = reusable(opts.stateDir, job, uid, opts.ccacheDir);
  if (existing) {
    trace(`job ${job}: reusing ${existing}`);
    return existing;
  }
  const lockPath = join(jobsDir(opts.stateDir), `${job}.lock`);
  return withLock(lockPath, opts.lockTimeoutMs ?? 30000, async () => {
    // Another step may have finished while we waited for the lock.
    const done = reusable(opts.stateDir, job, uid, opts.ccacheDir);
    if (done) {
      trace(`job ${job}: another step wrote ${done}; reusing it`);
      return done;
    }
    trace(`job ${job}: fetching the credential of uid ${uid}`);
    const krbcred = await opts.fetch(uid);
    let bytes: Buffer;
    try {
      bytes = ccacheBytesFromKrbCred(krbcred);
    } finally {
      krbcred.fill(0);
    }
    let path: string;
    try {
      path = createJobCcache(opts.ccacheDir, uid, gid, job, bytes);
    } finally {
      bytes.fill(0);
    }
    trace(`job ${job}: wrote ${path} (0600, ${uid}:${gid})`);
    try {
      await writeRecord(opts.stateDir, job, { uid, path });
    } catch (e) {
      unlinkQuiet(path);
      throw e;
    }
    trace(`job ${job}: record ${join(jobsDir(opts.stateDir), job)} written`);
    return path;
  });
}
