/**
 * The store holds an exclusive flock(2) on `state_dir/store.lock` while it runs, so that an
 * offline tool (rotate-key --offline) never rewrites records under a running store, and two
 * stores never share a state directory. The kernel drops the lock when the holder dies.
 */
import * as fs from 'node:fs';
import { constants } from 'node:fs';
import { join } from 'node:path';
import koffi from 'koffi';
import { Krb5BridgeError } from '../errors';

const LOCK_EX = 2;
const LOCK_NB = 4;

let flockFn: ((fd: number, op: number) => number) | undefined;

/** Take the lock or throw E_STATE naming who to stop; the returned fd keeps it (never closed). */
export function lockStateDir(root: string, who: string): number {
  const path = join(root, 'store.lock');
  const fd = fs.openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  flockFn ??= koffi.load('libc.so.6').func('int flock(int fd, int op)') as (fd: number, op: number) => number;
  if (flockFn(fd, LOCK_EX | LOCK_NB) !== 0) {
    fs.closeSync(fd);
    throw new Krb5BridgeError('E_STATE', `${root} is in use by a running store (${path} is locked); ${who}`);
  }
  return fd;
}

export function unlockStateDir(fd: number): void {
  fs.closeSync(fd);
}
