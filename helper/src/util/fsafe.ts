/**
 * Creating files safely in directories others can write to (/tmp): new names with
 * O_EXCL|O_NOFOLLOW, explicit modes, fsync, no partial files. Replacing a file is util/atomic.ts;
 * opening a file root trusts is util/trustedpath.ts.
 */
import { closeSync, constants as C, fchmodSync, fchownSync, fsyncSync, lstatSync, openSync, Stats, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Krb5BridgeError } from '../errors';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** n random characters of [A-Za-z0-9] (rejection sampling: no modulo bias). */
export function randomAlnum(n: number): string {
  let out = '';
  while (out.length < n) {
    for (const b of randomBytes(n * 2)) {
      if (b < 248 && out.length < n) out += ALNUM[b % 62];
    }
  }
  return out;
}

function errno(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e);
}

export function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    throw new Krb5BridgeError('E_IO', `cannot lstat ${path}: ${errno(e)}`, { cause: e });
  }
}

function writeAll(fd: number, data: Buffer): void {
  for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
}

/**
 * Create `path` new (O_CREAT|O_EXCL|O_NOFOLLOW, 0600), write `data`, fsync, then fchown to
 * uid:gid, close. Root may not write into a file the user already owns (fs.protected_regular),
 * hence chown last. Any failure removes the file. EEXIST is returned as false (pick another name).
 */
export function createExclusive(path: string, data: Buffer, owner?: { uid: number; gid: number }, o: { durable?: boolean } = {}): boolean {
  let fd: number;
  try {
    fd = openSync(path, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600); // libuv adds O_CLOEXEC
  } catch (e) {
    if (errno(e) === 'EEXIST') return false;
    throw new Krb5BridgeError('E_IO', `cannot create ${path}: ${errno(e)}`, { cause: e });
  }
  try {
    fchmodSync(fd, 0o600); // whatever the umask
    writeAll(fd, data);
    if (o.durable !== false) fsyncSync(fd);
    if (owner) fchownSync(fd, owner.uid, owner.gid);
    closeSync(fd);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
    try {
      unlinkSync(path);
    } catch {
      /* nothing more to do */
    }
    throw new Krb5BridgeError('E_IO', `cannot write ${path}: ${errno(e)}`, { cause: e });
  }
  return true;
}

/** Remove a name without following it (unlink never follows a symlink). Missing is fine. */
export function unlinkQuiet(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (e) {
    if (errno(e) === 'ENOENT') return false;
    throw new Krb5BridgeError('E_IO', `cannot remove ${path}: ${errno(e)}`, { cause: e });
  }
}
