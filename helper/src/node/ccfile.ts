/** Job ccache files: their names, creating one safely, and deciding whether one can be reused. */
import { basename, dirname, join } from 'node:path';
import { Krb5BridgeError } from '../errors';
import { createExclusive, lstatOrUndefined, randomAlnum } from '../util/fsafe';

export function ccacheNamePattern(uid: number, job: string): RegExp {
  return new RegExp(`^krb5cc_${uid}_${job}_[A-Za-z0-9]{6}$`);
}

/** True when `path` has the name materialise gives to this job's ccache. */
export function isJobCcacheName(path: string, uid: number, job: string): boolean {
  return path.startsWith('/') && ccacheNamePattern(uid, job).test(basename(path));
}

/**
 * Whether `path` is still the job's ccache: lstat (never following) shows a regular file owned by
 * uid, mode 0600, one link. Anything else (gone, symlink, replaced) means: write a new one.
 */
export function isValidJobCcache(path: string, uid: number): boolean {
  const st = lstatOrUndefined(path);
  return !!st && st.isFile() && st.uid === uid && (st.mode & 0o7777) === 0o600 && st.nlink === 1;
}

/** ccache_dir must be a real directory; if others can write to it, it must be sticky (as /tmp). */
export function checkCcacheDir(dir: string): void {
  const st = lstatOrUndefined(dir);
  if (!st) throw new Krb5BridgeError('E_UNSAFE_PATH', `ccache directory ${dir} does not exist`);
  if (st.isSymbolicLink()) throw new Krb5BridgeError('E_UNSAFE_PATH', `ccache directory ${dir} is a symbolic link`);
  if (!st.isDirectory()) throw new Krb5BridgeError('E_UNSAFE_PATH', `ccache directory ${dir} is not a directory`);
  const mode = st.mode & 0o7777;
  if (mode & 0o022 && !(mode & 0o1000)) {
    throw new Krb5BridgeError('E_UNSAFE_PATH', `ccache directory ${dir} is writable by others but not sticky (mode ${mode.toString(8).padStart(4, '0')})`);
  }
  if (st.uid !== 0 && st.uid !== process.geteuid!()) {
    throw new Krb5BridgeError('E_UNSAFE_PATH', `ccache directory ${dir} is owned by uid ${st.uid}, not root`);
  }
}

/** Write ccache bytes to a new `dir/krb5cc_<uid>_<job>_XXXXXX` owned by uid:gid, mode 0600. */
export function createJobCcache(dir: string, uid: number, gid: number, job: string, bytes: Buffer): string {
  for (let attempt = 0; attempt < 20; attempt++) {
    const path = join(dir, `krb5cc_${uid}_${job}_${randomAlnum(6)}`);
    // Not fsynced: a node that crashes loses its jobs, and with them any use of their ccaches
    // (the first step of every job waited ~1 ms for it here).
    if (createExclusive(path, bytes, { uid, gid }, { durable: false })) return path;
  }
  throw new Krb5BridgeError('E_IO', `cannot find a free ccache name in ${dirname(join(dir, 'x'))}`);
}

/**
 * A name for a job ccache that cannot be written yet (pending): free now, random, so nobody else
 * can guess it; nothing is created. When it is filled later, the atomic write replaces whatever
 * the job may have put there meanwhile without following it.
 */
export function reserveJobCcache(dir: string, uid: number, job: string): string {
  for (let attempt = 0; attempt < 20; attempt++) {
    const path = join(dir, `krb5cc_${uid}_${job}_${randomAlnum(6)}`);
    if (!lstatOrUndefined(path)) return path;
  }
  throw new Krb5BridgeError('E_IO', `cannot find a free ccache name in ${dir}`);
}
