/**
 * The one atomic write: a new temporary file in the target's directory (O_CREAT|O_EXCL|
 * O_NOFOLLOW, mode 0600 whatever the umask), the data, fsync, chown if asked, then rename over the
 * target (or link, when the target must not exist yet), then fsync of the directory. A reader sees
 * the old file or the new one, never a part; a crash leaves at most a temporary file named
 * `.<target name>.<10 letters>.tmp`, which the owner of the directory may sweep (`isTempName`).
 * Used for store records, the store key file, job records, the push marker and job ccache refreshes.
 */
import { promises as fsp, constants as C } from 'node:fs';
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

export async function writeFileAtomic(path: string, data: Buffer | string, o: AtomicWriteOptions = {}): Promise<AtomicWriteResult> {
  const dir = dirname(path);
  const what = o.what ?? 'file';
  const durable = o.durable !== false;
  let temp = '';
  let h: fsp.FileHandle | undefined;
  for (let attempt = 0; attempt < 10 && !h; attempt++) {
    temp = join(dir, `.${basename(path)}.${randomAlnum(10)}.tmp`);
    try {
      h = await fsp.open(temp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    } catch (e) {
      if (errnoOf(e) !== 'EEXIST') throw new Krb5BridgeError('E_IO', `cannot create a temporary file for the ${what} ${path}: ${errnoOf(e)}`, { cause: e });
    }
  }
  if (!h) throw new Krb5BridgeError('E_IO', `cannot find a free temporary name in ${dir}`);
  try {
    let ino: number;
    try {
      await h.chmod(0o600);
      await h.writeFile(data);
      if (durable) await h.sync();
      if (o.owner) await h.chown(o.owner.uid, o.owner.gid); // last: root may not write into a user's file (protected_regular)
      ino = (await h.stat()).ino;
    } finally {
      await h.close();
    }
    if (o.exclusive) {
      try {
        await fsp.link(temp, path);
      } catch (e) {
        if (errnoOf(e) === 'EEXIST') return { ino: 0, written: false };
        throw e;
      }
      await fsp.unlink(temp);
    } else {
      await fsp.rename(temp, path);
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
