/**
 * Job records: `state_dir/jobs/<job>`, one line, written atomically:
 *   `<uid> <ccache path>\n`          the ccache at that path is complete;
 *   `<uid> <ccache path> pending <gid>\n`  the path is the job's (its KRB5CCNAME names it) but
 *                                    the credential could not be had yet: the keeper writes it
 *                                    there (owner uid:gid) as soon as it can.
 * Only root writes there (0700 dir), yet a record is still checked before anything acts on it.
 */
import { closeSync, constants as C, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { Krb5BridgeError } from '../errors';
import { writeFileAtomic } from '../util/atomic';
import { lstatOrUndefined } from '../util/fsafe';
import { ensureTrustedDir } from '../util/trustedpath';
import { isJobCcacheName } from './ccfile';

export interface JobRecord {
  uid: number;
  path: string;
  /** The ccache is not written yet (see above): the gid it is to be written for. */
  pending?: { gid: number };
}

const MAX_RECORD = 4096;

export function jobsDir(stateDir: string): string {
  return join(stateDir, 'jobs');
}

export function recordPath(stateDir: string, job: string): string {
  return join(jobsDir(stateDir), job);
}

/** Make (or check) state_dir and state_dir/jobs: root-owned, no group/other write, no symlinks. */
export function ensureJobsDir(stateDir: string): void {
  ensureTrustedDir(stateDir, 'node state directory');
  ensureTrustedDir(jobsDir(stateDir), 'node state directory');
}

/** The record's file must be a regular root file, one link, not readable or writable by others. */
function openRecord(path: string): number | undefined {
  const st = lstatOrUndefined(path);
  if (!st) return undefined;
  if (!st.isFile()) throw new Krb5BridgeError('E_UNSAFE_PATH', `job record ${path} is not a regular file (${st.isSymbolicLink() ? 'a symbolic link' : 'another file type'})`);
  let fd: number;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new Krb5BridgeError(code === 'ELOOP' ? 'E_UNSAFE_PATH' : 'E_IO', `cannot open job record ${path}: ${code}`, { cause: e });
  }
  const fst = fstatSync(fd);
  const euid = process.geteuid!();
  if (!fst.isFile() || fst.uid !== euid || fst.nlink !== 1 || fst.mode & 0o077) {
    closeSync(fd);
    throw new Krb5BridgeError(
      'E_UNSAFE_PATH',
      `job record ${path} must be a regular file of uid ${euid}, mode 0600, one link (uid ${fst.uid}, mode ${(fst.mode & 0o7777).toString(8)}, ${fst.nlink} links)`,
    );
  }
  return fd;
}

/** Parse `<uid> <path>[ pending <gid>]\n`; the path must be the name materialise gives to this job's ccache. */
export function parseRecord(text: string, job: string, where: string): JobRecord {
  const m = /^(\d{1,10}) (\/[^\0\n ]+)(?: pending (\d{1,10}))?\n$/.exec(text);
  if (!m) throw new Krb5BridgeError('E_STATE', `job record ${where} is malformed; remove it if no job ${job} runs`);
  const uid = Number(m[1]);
  const path = m[2]!;
  if (!isJobCcacheName(path, uid, job)) throw new Krb5BridgeError('E_STATE', `job record ${where} names ${path}, which is not a ccache of job ${job} and uid ${uid}`);
  return m[3] ? { uid, path, pending: { gid: Number(m[3]) } } : { uid, path };
}

/** The job's record, or undefined when there is none. */
export function readRecord(stateDir: string, job: string): JobRecord | undefined {
  const path = recordPath(stateDir, job);
  const fd = openRecord(path);
  if (fd === undefined) return undefined;
  try {
    const buf = Buffer.alloc(MAX_RECORD + 1);
    let n = 0;
    for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0; ) n += r;
    if (n > MAX_RECORD) throw new Krb5BridgeError('E_STATE', `job record ${path} is larger than ${MAX_RECORD} bytes`);
    return parseRecord(buf.toString('utf8', 0, n), job, path);
  } finally {
    closeSync(fd);
  }
}

/**
 * Atomic (a reader sees the old record or the new one), not durable: job records live for the
 * jobs of a running node, which a crash ends (and the sweep forgets); an fsync of the file and
 * the directory cost the first step of every job ~1.3 ms here.
 */
export async function writeRecord(stateDir: string, job: string, rec: JobRecord): Promise<void> {
  await writeFileAtomic(recordPath(stateDir, job), `${rec.uid} ${rec.path}${rec.pending ? ` pending ${rec.pending.gid}` : ''}\n`, { what: 'job record', durable: false });
}
