/**
 * The store's files: `state_dir/creds/<uid>.json` (0600), written as a temporary file, fsynced,
 * renamed into place, then the directory fsynced, so a crash leaves either the old or the new
 * record, never a partial one. A file that does not parse is moved to `state_dir/corrupt/` and
 * logged; it never stops the store. Every record is encrypted (atrest.ts) with the key ring the
 * paths carry; a legacy plaintext record is read once and rewritten encrypted. Writes of one uid
 * are serialised here (whoever calls: handlers, renewer, key rotation), and each record is sealed
 * inside that lock with the key current at that moment, which key rotation relies on.
 */
import { constants, promises as fsp } from 'node:fs';
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Krb5BridgeError } from '../errors';
import { CredRecord, parseRecord, serializeRecord } from './state';
import { KeyRing, open, seal } from './atrest';

const RECORD_NAME = /^(\d{1,10})\.json$/;
const TEMP_NAME = /^\.\d{1,10}\.json\.[0-9a-f]{12}\.tmp$/;

export interface StatePaths {
  root: string;
  creds: string;
  corrupt: string;
  /** Encrypts every record written, decrypts every record read. */
  keys: KeyRing;
}

export function statePaths(root: string, keys: KeyRing): StatePaths {
  return { root, creds: join(root, 'creds'), corrupt: join(root, 'corrupt'), keys };
}

/** Per-record-file mutex: one write (or rotation rewrite) of a uid at a time, in order. */
const recordLocks = new Map<string, Promise<unknown>>();

export function withRecordLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const prev = recordLocks.get(path) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  const tail = next.catch(() => undefined);
  recordLocks.set(path, tail);
  void tail.then(() => {
    if (recordLocks.get(path) === tail) recordLocks.delete(path);
  });
  return next;
}

/** Resolves when every record write under way now (in any state dir) has finished. */
export async function writesInFlight(): Promise<void> {
  await Promise.all([...recordLocks.values()]);
}

/** Create `dir` 0700 if missing; refuse it unless it is a real directory of ours that no one else can write. */
function secureDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') throw new Krb5BridgeError('E_STATE', `cannot create ${dir}: ${code ?? String(e)}`, { cause: e });
  }
  const st = fs.lstatSync(dir);
  const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
  const euid = process.geteuid ? process.geteuid() : 0;
  if (!st.isDirectory()) throw new Krb5BridgeError('E_STATE', `${dir} is not a directory (a symlink or a file); remove it or choose another --state-dir`);
  if (st.uid !== euid) throw new Krb5BridgeError('E_STATE', `${dir} is owned by uid ${st.uid}, not ${euid} (mode ${mode}); chown it to root`);
  if ((st.mode & 0o022) !== 0) throw new Krb5BridgeError('E_STATE', `${dir} is writable by group or others (mode ${mode}); chmod 0700 it`);
}

/** Prepare the state directory and its subdirectories (synchronous: start-up only). */
export function openStateDir(root: string, keys: KeyRing): StatePaths {
  const p = statePaths(root, keys);
  secureDir(p.root);
  secureDir(p.creds);
  secureDir(p.corrupt);
  return p;
}

/**
 * Read every record. Leftover temporary files (a crash between write and rename) are removed,
 * never loaded; a file that fails `parseRecord` or `check` is quarantined.
 */
export function loadAll(p: StatePaths, check: (r: CredRecord) => void, log: (line: string) => void): CredRecord[] {
  const out: CredRecord[] = [];
  for (const name of fs.readdirSync(p.creds).sort()) {
    const path = join(p.creds, name);
    if (TEMP_NAME.test(name)) {
      fs.rmSync(path, { force: true });
      log(`removed leftover temporary file ${path} (an interrupted write; the previous record, if any, is intact)`);
      continue;
    }
    const m = RECORD_NAME.exec(name);
    try {
      if (!m) throw new Krb5BridgeError('E_STATE', 'not a record file name (<uid>.json)');
      const st = fs.lstatSync(path);
      if (!st.isFile()) throw new Krb5BridgeError('E_STATE', 'not a regular file');
      const uid = Number(m[1]);
      const opened = open(p.keys, uid, readNoFollow(path));
      const record = parseRecord(opened.plain, uid);
      check(record);
      if (opened.kid === undefined) {
        // A plaintext record from before encryption at rest: read once, rewritten encrypted now.
        writeRecordSync(p, record);
        log(`record ${path} was plaintext (written before encryption at rest); rewritten encrypted with key ${p.keys.current.id}`);
      }
      out.push(record);
    } catch (e) {
      quarantine(p, name, (e as Error).message, log);
    }
  }
  return out;
}

function readNoFollow(path: string): string {
  const fd = fs.openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** The key id that encrypts uid's record file now (undefined: plaintext or missing). */
export function recordKeyId(p: StatePaths, uid: number): number | undefined {
  let text: string;
  try {
    text = readNoFollow(recordPath(p, uid));
  } catch {
    return undefined;
  }
  return open(p.keys, uid, text).kid;
}

function tempPath(p: StatePaths, uid: number): string {
  return join(p.creds, `.${uid}.json.${randomBytes(6).toString('hex')}.tmp`);
}

/** Start-up only (migration): the synchronous twin of writeRecord. */
function writeRecordSync(p: StatePaths, record: CredRecord): void {
  const final = recordPath(p, record.uid);
  const temp = tempPath(p, record.uid);
  try {
    const fd = fs.openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      fs.writeSync(fd, seal(p.keys, record.uid, serializeRecord(record)));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, final);
    const dfd = fs.openSync(p.creds, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch (e) {
    fs.rmSync(temp, { force: true });
    throw new Krb5BridgeError('E_IO', `cannot write ${final}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
}

function quarantine(p: StatePaths, name: string, why: string, log: (line: string) => void): void {
  const from = join(p.creds, name);
  const to = join(p.corrupt, `${name}.${Date.now()}`);
  try {
    fs.renameSync(from, to);
    log(`corrupt record ${from} moved to ${to}: ${why}`);
  } catch (e) {
    log(`corrupt record ${from} could not be moved to ${to} (${(e as NodeJS.ErrnoException).code}); ignored: ${why}`);
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const h = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

export function recordPath(p: StatePaths, uid: number): string {
  return join(p.creds, `${uid}.json`);
}

/**
 * Durably replace uid's record, encrypted with the key current when the write starts (inside
 * the uid's lock). Resolves only once the rename and the directory are on disk.
 */
export function writeRecord(p: StatePaths, record: CredRecord): Promise<void> {
  return withRecordLock(recordPath(p, record.uid), () => writeUnlocked(p, record));
}

async function writeUnlocked(p: StatePaths, record: CredRecord): Promise<void> {
  const final = recordPath(p, record.uid);
  const temp = tempPath(p, record.uid);
  let h: fsp.FileHandle | undefined;
  try {
    h = await fsp.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    await h.writeFile(seal(p.keys, record.uid, serializeRecord(record)), 'utf8');
    await h.sync();
    await h.close();
    h = undefined;
    await fsp.rename(temp, final);
    await fsyncDir(p.creds);
  } catch (e) {
    if (h) await h.close().catch(() => undefined);
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    throw new Krb5BridgeError('E_IO', `cannot write ${final}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
}

/**
 * Re-encrypt uid's record file with the current key if another key encrypts it (key rotation).
 * Reads the file itself, under the uid's lock, so a concurrent push or renewal is never undone.
 * Returns whether the file was rewritten.
 */
export function reencryptRecord(p: StatePaths, uid: number): Promise<boolean> {
  return withRecordLock(recordPath(p, uid), async () => {
    let text: string;
    try {
      text = readNoFollow(recordPath(p, uid));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false; // removed meanwhile
      throw new Krb5BridgeError('E_IO', `cannot read ${recordPath(p, uid)}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
    }
    const opened = open(p.keys, uid, text);
    if (opened.kid === p.keys.current.id) return false;
    await writeUnlocked(p, parseRecord(opened.plain, uid));
    return true;
  });
}

/** The uids that have a record file now. */
export function recordUids(p: StatePaths): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync(p.creds)) {
    const m = RECORD_NAME.exec(name);
    if (m) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
}

/** Durably remove uid's record; a missing file is fine. */
export function deleteRecord(p: StatePaths, uid: number): Promise<void> {
  return withRecordLock(recordPath(p, uid), () => deleteUnlocked(p, uid));
}

async function deleteUnlocked(p: StatePaths, uid: number): Promise<void> {
  const path = recordPath(p, uid);
  try {
    await fsp.rm(path, { force: true });
    await fsyncDir(p.creds);
  } catch (e) {
    throw new Krb5BridgeError('E_IO', `cannot remove ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
}
