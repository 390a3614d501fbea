/**
 * Refreshing a job's ccache in place with the one atomic write: the new contents go to a fresh
 * file in the same directory (O_CREAT|O_EXCL|O_NOFOLLOW, 0600, fchown to the job's user), which
 * is renamed over the old one.
 * A reader (the job, rpc.gssd) sees the old file or the new one, never a mix, and KRB5CCNAME
 * keeps naming a valid ccache. Done under the job's lock, and only while the job record still
 * names this file and the file is still the intact ccache the keeper manages. A pending job (its
 * path reserved, nothing written: node/materialise.ts) gets its first ccache the same way, and
 * its record then says the ccache is complete.
 */
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { isValidJobCcache, readRecord, jobsDir } from '../node';
import { withLock } from '../node/lock';
import { writeRecord } from '../node/record';
import { writeFileAtomic } from '../util/atomic';
import { lstatOrUndefined, unlinkQuiet } from '../util/fsafe';

export type ReplaceResult = 'replaced' | 'gone' | 'changed';

export interface JobFile {
  job: string;
  uid: number;
  gid: number;
  path: string;
}

export async function replaceCcache(stateDir: string, f: JobFile, bytes: Buffer): Promise<ReplaceResult> {
  const lockPath = join(jobsDir(stateDir), `${f.job}.lock`);
  const result = await withLock(lockPath, 10_000, async (): Promise<ReplaceResult> => {
    const rec = readRecord(stateDir, f.job);
    if (!rec || rec.uid !== f.uid || rec.path !== f.path) return 'gone';
    // Removed by the job (kdestroy) or replaced by something else: not ours to write any more.
    if (!rec.pending && !isValidJobCcache(f.path, f.uid)) return 'changed';
    const { ino } = await writeFileAtomic(f.path, bytes, { owner: { uid: f.uid, gid: f.gid }, what: 'job ccache' });
    if (rec.pending) await writeRecord(stateDir, f.job, { uid: f.uid, path: f.path });
    // destroy takes no lock: if it removed the record meanwhile, take back the file just written.
    if (!readRecord(stateDir, f.job)) {
      if (lstatOrUndefined(f.path)?.ino === ino) unlinkSync(f.path);
      return 'gone';
    }
    return 'replaced';
  });
  if (result === 'gone' && !lstatOrUndefined(join(jobsDir(stateDir), f.job))) unlinkQuiet(lockPath); // the lock file withLock re-created
  return result;
}
