/**
 * One lock per job, so that two steps starting at once write one ccache. flock(2) through koffi
 * (Node has no flock): the kernel drops the lock when its holder dies, so there is no stale-lock
 * guessing. The lock file stays (destroy removes it); a holder checks it locked the file that is
 * still at the path, so a concurrent unlink cannot give two holders.
 */
import { closeSync, constants as C, fstatSync, openSync, statSync } from 'node:fs';
import { Krb5BridgeError } from '../errors';
import { EINTR, EWOULDBLOCK, LOCK_EX, LOCK_NB, LOCK_UN, errno, libc } from '../sys/libc';

function flock(fd: number, op: number): number {
  return libc().flock(fd, op);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Try once: a locked fd, or undefined when someone else holds it. */
function tryLock(path: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(path, C.O_RDWR | C.O_CREAT | C.O_NOFOLLOW, 0o600);
  } catch (e) {
    throw new Krb5BridgeError('E_STATE', `cannot open lock file ${path}: ${(e as NodeJS.ErrnoException).code}`, { cause: e });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== process.geteuid!() || st.nlink !== 1) {
      throw new Krb5BridgeError('E_STATE', `lock file ${path} is not a private regular file of uid ${process.geteuid!()}`);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
      const err = errno();
      if (err !== EWOULDBLOCK && err !== EINTR) throw new Krb5BridgeError('E_STATE', `flock ${path} failed with errno ${err}`);
      closeSync(fd);
      return undefined;
    }
    let now;
    try {
      now = statSync(path);
    } catch {
      now = undefined;
    }
    if (!now || now.ino !== st.ino || now.dev !== st.dev) {
      closeSync(fd); // locked a file that was unlinked meanwhile: try again on the new one
      return undefined;
    }
    return fd;
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      /* closed above */
    }
    throw e;
  }
}

/** Run body holding the lock at `path`; waits up to timeoutMs for another holder. */
export async function withLock<T>(path: string, timeoutMs: number, body: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let fd: number | undefined;
  for (let delay = 5; (fd = tryLock(path)) === undefined; delay = Math.min(delay * 2, 100)) {
    if (Date.now() > deadline) throw new Krb5BridgeError('E_STATE', `another step of this job holds ${path} for more than ${Math.round(timeoutMs / 1000)} s`);
    await sleep(delay);
  }
  try {
    return await body();
  } finally {
    flock(fd, LOCK_UN);
    closeSync(fd);
  }
}
