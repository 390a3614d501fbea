/**
 * Reading a job's ccache as root without trusting it: the file is in a directory the user can
 * write to and is the user's own, so it is opened with O_NOFOLLOW, checked with fstat (regular,
 * owner, one link, bounded size), copied into a private temporary directory, and only that copy
 * is given to libkrb5. What comes back is the TGT (times, and the KRB-CRED for a KDC renewal).
 */
import { closeSync, constants as C, fstatSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Krb5BridgeError } from '../errors';
import { CredBundle, readTgts } from '../krb5';

const MAX_CCACHE = 1024 * 1024;

function tempBase(): string {
  try {
    if (statSync('/dev/shm').isDirectory()) return '/dev/shm';
  } catch {
    /* no tmpfs: /tmp */
  }
  return '/tmp';
}

export function readJobCcache(path: string, uid: number): CredBundle {
  let fd: number;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (e) {
    throw new Krb5BridgeError('E_UNSAFE_PATH', `cannot open ${path}: ${(e as NodeJS.ErrnoException).code}`, { cause: e });
  }
  let bytes: Buffer;
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== uid || st.nlink !== 1 || st.size > MAX_CCACHE) {
      throw new Krb5BridgeError('E_UNSAFE_PATH', `${path} is not a job ccache of uid ${uid} (uid ${st.uid}, ${st.nlink} links, ${st.size} bytes)`);
    }
    bytes = Buffer.alloc(st.size);
    for (let n = 0, r; n < bytes.length && (r = readSync(fd, bytes, n, bytes.length - n, null)) > 0; ) n += r;
  } finally {
    closeSync(fd);
  }
  const dir = mkdtempSync(join(tempBase(), 'krb5bridge-keeper-'));
  try {
    const copy = join(dir, 'ccache');
    writeFileSync(copy, bytes, { mode: 0o600 });
    bytes.fill(0);
    try {
      return readTgts(`FILE:${copy}`);
    } finally {
      writeFileSync(copy, Buffer.alloc(bytes.length));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
