/**
 * Safe file writing for root in directories others can write to (/tmp) or that must stay
 * private (state dirs): new names with O_EXCL|O_NOFOLLOW, explicit modes, fsync, no partial files.
 */
import {
  closeSync,
  constants as C,
  fchmodSync,
  fchownSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  renameSync,
  Stats,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
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

/** fsync a directory so a rename or unlink in it survives a crash. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Create `path` new (O_CREAT|O_EXCL|O_NOFOLLOW, 0600), write `data`, fsync, then fchown to
 * uid:gid, close. Root may not write into a file the user already owns (fs.protected_regular),
 * hence chown last. Any failure removes the file. EEXIST is returned as false (pick another name).
 */
export function createExclusive(path: string, data: Buffer, owner?: { uid: number; gid: number }): boolean {
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
    fsyncSync(fd);
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

/** Write `path` (0600) atomically: a new temporary file in the same directory, fsync, rename, fsync dir. */
export function writeFileAtomic(path: string, data: Buffer): void {
  const dir = dirname(path);
  for (let attempt = 0; attempt < 10; attempt++) {
    const tmp = join(dir, `.${randomAlnum(10)}.tmp`);
    if (!createExclusive(tmp, data)) continue;
    try {
      renameSync(tmp, path);
    } catch (e) {
      try {
        unlinkSync(tmp);
      } catch {
        /* gone already */
      }
      throw new Krb5BridgeError('E_IO', `cannot put ${path} in place: ${errno(e)}`, { cause: e });
    }
    fsyncDir(dir);
    return;
  }
  throw new Krb5BridgeError('E_IO', `cannot create a temporary file in ${dir}`);
}

/**
 * A private directory for root state: created 0700 if missing (its parent must exist); if present
 * it must be a real directory (not a symlink) owned by us without group/other write.
 */
export function ensurePrivateDir(path: string): void {
  let st = lstatOrUndefined(path);
  if (!st) {
    try {
      mkdirSync(path, { mode: 0o700 });
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw new Krb5BridgeError('E_STATE', `cannot create ${path}: ${errno(e)}`, { cause: e });
    }
    st = lstatSync(path);
  }
  const euid = process.geteuid ? process.geteuid() : 0;
  const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
  if (st.isSymbolicLink()) throw new Krb5BridgeError('E_STATE', `${path} is a symbolic link; it must be a directory owned by uid ${euid}`);
  if (!st.isDirectory()) throw new Krb5BridgeError('E_STATE', `${path} is not a directory`);
  if (st.uid !== euid) throw new Krb5BridgeError('E_STATE', `${path} is owned by uid ${st.uid}, not ${euid}; fix with chown`);
  if (st.mode & 0o022) throw new Krb5BridgeError('E_STATE', `${path} is writable by group or others (mode ${mode}); fix with chmod 0700`);
}
