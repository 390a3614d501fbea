/**
 * The store holds an exclusive flock(2) on `state_dir/store.lock` while it runs, so that an
 * offline tool (rotate-key --offline) never rewrites records under a running store, and two
 * stores never share a state directory. The kernel drops the lock when the holder dies.
 */
import * as fs from 'node:fs';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { Krb5BridgeError } from '../../errors';
import { LOCK_EX, LOCK_NB, libc } from '../../sys/libc';

/** Take the lock or throw E_STATE naming who to stop; the returned fd keeps it. */
export function lockStateDir(root: string, who: string): number {
  const path = join(root, 'store.lock');
  const fd = fs.openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  if (libc().flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    fs.closeSync(fd);
    throw new Krb5BridgeError('E_STATE', `${root} is in use by a running store (${path} is locked); ${who}`);
  }
  return fd;
}

export function unlockStateDir(fd: number): void {
  fs.closeSync(fd);
}
