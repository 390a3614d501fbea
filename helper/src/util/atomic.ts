/**
 * The one atomic write: a new temporary file in the target's directory (O_CREAT|O_EXCL|
 * O_NOFOLLOW, mode 0600 whatever the umask), the data, fsync, chown if asked, then rename over the
 * target (or link, when the target must not exist yet), then fsync of the directory. A reader sees
 * the old file or the new one, never a part; a crash leaves at most a temporary file named
 * `.<target name>.<10 letters>.tmp`, which the owner of the directory may sweep (`isTempName`).
 * Used for store records, the store key file, job records, the push marker and job ccache refreshes.
 */
import {
  close,
  closeSync,
  constants as C,
  fchmod,
  fchmodSync,
  fchown,
  fchownSync,
  fstat,
  fstatSync,
  fsync,
  fsyncSync,
  linkSync,
  open,
  openSync,
  promises as fsp,
  renameSync,
  unlinkSync,
  writeFile,
  writeFileSync,
} from 'node:fs';
import { promisify } from 'node:util';
import { basename, dirname, join } from 'node:path';
import { Krb5BridgeError, isKrb5BridgeError } from '../errors';
import { randomAlnum } from './fsafe';

export interface AtomicWriteOptions {
  /** chown the new file to this owner before it is put in place (root writing a user's file). */
  owner?: { uid: number; gid: number } | undefined;
  /** fsync the file and the directory (default true; false for what only saves work, like the push marker). */
  durable?: boolean;
  /** Fail with EEXIST (E_IO, `exists`) instead of replacing an existing target. */
  exclusive?: boolean;
  /** What the file is, for messages ("store record", "job ccache"). */
  what?: string;
}

export interface AtomicWriteResult {
  /** The inode of the file now at the path (to recognise it later). */
  ino: number;
  /** false when `exclusive` and the target already existed (nothing written). */
  written: boolean;
}

const TEMP = /^\..+\.[A-Za-z0-9]{10}\.tmp$/;

/** Is `name` a temporary file of writeFileAtomic (a leftover of a crash when no write runs)? */
export function isTempName(name: string): boolean {
  return TEMP.test(name);
}

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e);
}

/** fsync a directory, so that a rename or unlink in it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const h = await fsp.open(dir, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/**
 * The file operations a write uses. A durable write goes through libuv's pool (its fsyncs may take
 * long and must not stop the event loop); a non-durable one (a job record, a job ccache, the push
 * marker: small files on a local disk) calls them directly: each pool round trip costs a daemon
 * about 0.1 ms, six of them were an eighth of the keeper's materialise.
 */
interface FileOps {
  open(path: string, flags: number, mode: number): number | Promise<number>;
  fchmod(fd: number, mode: number): void | Promise<void>;
  write(fd: number, data: Buffer | string): void | Promise<void>;
  fsync(fd: number): void | Promise<void>;
  fchown(fd: number, uid: number, gid: number): void | Promise<void>;
  ino(fd: number): number | Promise<number>;
  close(fd: number): void | Promise<void>;
  link(from: string, to: string): void | Promise<void>;
  unlink(path: string): void | Promise<void>;
  rename(from: string, to: string): void | Promise<void>;
}

const direct: FileOps = {
  open: (p, f, m) => openSync(p, f, m),
  fchmod: fchmodSync,
  write: (fd, d) => writeFileSync(fd, d),
  fsync: fsyncSync,
  fchown: fchownSync,
  ino: (fd) => fstatSync(fd).ino,
  close: closeSync,
  link: linkSync,
  unlink: unlinkSync,
  rename: renameSync,
};

const writeFd = promisify(writeFile);
const fstatFd = promisify(fstat);

const pooled: FileOps = {
  open: promisify(open) as (p: string, f: number, m: number) => Promise<number>,
  fchmod: promisify(fchmod),
  write: (fd, d) => writeFd(fd, d),
  fsync: promisify(fsync),
  fchown: promisify(fchown),
  ino: async (fd) => (await fstatFd(fd)).ino,
  close: promisify(close),
  link: (from, to) => fsp.link(from, to),
  unlink: (p) => fsp.unlink(p),
  rename: (from, to) => fsp.rename(from, to),
};

export async function writeFileAtomic(path: string, data: Buffer | string, o: AtomicWriteOptions = {}): Promise<AtomicWriteResult> {
  const dir = dirname(path);
  const what = o.what ?? 'file';
  const durable = o.durable !== false;
  const io = durable ? pooled : direct;
  let temp = '';
  let fd: number | undefined;
  for (let attempt = 0; attempt < 10 && fd === undefined; attempt++) {
    temp = join(dir, `.${basename(path)}.${randomAlnum(10)}.tmp`);
    try {
      fd = await io.open(temp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    } catch (e) {
      if (errnoOf(e) !== 'EEXIST') throw new Krb5BridgeError('E_IO', `cannot create a temporary file for the ${what} ${path}: ${errnoOf(e)}`, { cause: e });
    }
  }
  if (fd === undefined) throw new Krb5BridgeError('E_IO', `cannot find a free temporary name in ${dir}`);
  try {
    let ino: number;
    try {
      await io.fchmod(fd, 0o600);
      await io.write(fd, data);
      if (durable) await io.fsync(fd);
      if (o.owner) await io.fchown(fd, o.owner.uid, o.owner.gid); // last: root may not write into a user's file (protected_regular)
      ino = await io.ino(fd);
    } finally {
      await io.close(fd);
    }
    if (o.exclusive) {
      try {
        await io.link(temp, path);
      } catch (e) {
        if (errnoOf(e) === 'EEXIST') return { ino: 0, written: false };
        throw e;
      }
      await io.unlink(temp);
    } else {
      await io.rename(temp, path);
    }
    temp = '';
    if (durable) await fsyncDir(dir);
    return { ino, written: true };
  } catch (e) {
    if (isKrb5BridgeError(e)) throw e;
    throw new Krb5BridgeError('E_IO', `cannot write the ${what} ${path}: ${errnoOf(e)}`, { cause: e });
  } finally {
    if (temp) await fsp.rm(temp, { force: true }).catch(() => undefined);
  }
}
