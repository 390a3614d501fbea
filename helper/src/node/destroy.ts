/**
 * destroy (root, at job end): remove the job's ccache and record. Only the file the record names,
 * and only if lstat shows a regular file owned by the job's uid; never follows a link, never
 * removes anything else. Idempotent.
 */
import { join } from 'node:path';
import { Krb5BridgeError } from '../errors';
import { lstatOrUndefined, unlinkQuiet } from '../util/fsafe';
import { trace } from '../util/log';
import { parseJob, parseUid } from './ids';
import { ensureJobsDir, jobsDir, readRecord, recordPath } from './record';

export interface DestroyResult {
  /** The ccache removed, if any. */
  removed?: string;
  message: string;
}

export function destroy(opts: { uid: number | string; job: number | string; stateDir: string }): DestroyResult {
  const uid = parseUid(opts.uid);
  const job = parseJob(opts.job);
  if (!lstatOrUndefined(opts.stateDir) || !lstatOrUndefined(jobsDir(opts.stateDir))) return { message: 'nothing to destroy' };
  ensureJobsDir(opts.stateDir);
  const recPath = recordPath(opts.stateDir, job);
  const lockPath = join(jobsDir(opts.stateDir), `${job}.lock`);

  let rec;
  try {
    rec = readRecord(opts.stateDir, job);
  } catch (e) {
    // A bad record is removed (unlink does not follow), but never acted on.
    const st = lstatOrUndefined(recPath);
    if (st && !st.isDirectory()) unlinkQuiet(recPath);
    unlinkQuiet(lockPath);
    throw e;
  }
  if (!rec) {
    unlinkQuiet(lockPath);
    return { message: 'nothing to destroy' };
  }
  if (rec.uid !== uid) throw new Krb5BridgeError('E_STATE', `job record ${recPath} belongs to uid ${rec.uid}, not ${uid}; nothing removed`);

  const st = lstatOrUndefined(rec.path);
  let result: DestroyResult;
  if (!st) {
    result = { message: `${rec.path} was already gone` };
  } else if (st.isFile() && st.uid === uid) {
    unlinkQuiet(rec.path);
    trace(`removed ${rec.path}`);
    result = { removed: rec.path, message: `destroyed ${rec.path}` };
  } else {
    unlinkQuiet(recPath);
    unlinkQuiet(lockPath);
    const what = st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? 'a directory' : st.isFile() ? `a file of uid ${st.uid}` : 'a special file';
    throw new Krb5BridgeError('E_UNSAFE_PATH', `${rec.path} is ${what}, not the job's ccache: left in place; record ${recPath} removed`);
  }
  unlinkQuiet(recPath);
  unlinkQuiet(lockPath);
  return result;
}
