/**
 * The store's files: `state_dir/creds/<uid>.json` (0600), written as a temporary file, fsynced,
 * renamed into place, then the directory fsynced, so a crash leaves either the old or the new
 * record, never a partial one. A file that does not parse is moved to `state_dir/corrupt/` and
 * logged; it never stops the store.
 */
import { constants, promises as fsp } from 'node:fs';
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Krb5BridgeError } from '../errors';
import { CredRecord, parseRecord, serializeRecord } from './state';

const RECORD_NAME = /^(\d{1,10})\.json$/;
const TEMP_NAME = /^\.\d{1,10}\.json\.[0-9a-f]{12}\.tmp$/;

export interface StatePaths {
  root: string;
  creds: string;
  corrupt: string;
}

export function statePaths(root: string): StatePaths {
  return { root, creds: join(root, 'creds'), corrupt: join(root, 'corrupt') };
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
export function openStateDir(root: string): StatePaths {
  const p = statePaths(root);
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
      const fd = fs.openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
      let text: string;
      try {
        text = fs.readFileSync(fd, 'utf8');
      } finally {
        fs.closeSync(fd);
      }
      const record = parseRecord(text, Number(m[1]));
      check(record);
      out.push(record);
    } catch (e) {
      quarantine(p, name, (e as Error).message, log);
    }
  }
  return out;
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

/** Durably replace uid's record. Resolves only once the rename and the directory are on disk. */
export async function writeRecord(p: StatePaths, record: CredRecord): Promise<void> {
  const final = recordPath(p, record.uid);
  const temp = join(p.creds, `.${record.uid}.json.${randomBytes(6).toString('hex')}.tmp`);
  let h: fsp.FileHandle | undefined;
  try {
    h = await fsp.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    await h.writeFile(serializeRecord(record), 'utf8');
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

/** Durably remove uid's record; a missing file is fine. */
export async function deleteRecord(p: StatePaths, uid: number): Promise<void> {
  const path = recordPath(p, uid);
  try {
    await fsp.rm(path, { force: true });
    await fsyncDir(p.creds);
  } catch (e) {
    throw new Krb5BridgeError('E_IO', `cannot remove ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
}
