/**
 * The `dir` backend (storage = dir, the default): one file per uid in the store's state directory,
 * the format documented in docs/internals.md ("Store state"):
 *   state_dir/creds/<uid>.json   the sealed record (0600), written with the one atomic write
 *   state_dir/corrupt/           files that did not open, moved aside (never loaded, never lost)
 *   state_dir/store.lock         flock held while a store (or rotate-key --offline) uses the directory
 * At open every record is read into the view; a leftover temporary file (a crash between write and
 * rename) is removed, a file that fails to open or check is quarantined and logged, and a legacy
 * plaintext record is rewritten sealed.
 */
import { promises as fsp } from 'node:fs';
import * as fs from 'node:fs';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { Krb5BridgeError } from '../../errors';
import { fsyncDir, isTempName, writeFileAtomic } from '../../util/atomic';
import { ensureTrustedDir } from '../../util/trustedpath';
import type { RecordCodec } from '../codec';
import type { StoredCredential } from '../types';
import { ViewStore } from '../view';
import { lockStateDir, unlockStateDir } from './lock';

const RECORD_NAME = /^(\d{1,10})\.json$/;
/** Temporary names of the atomic write, and of versions before it (`.<uid>.json.<12 hex>.tmp`). */
const OLD_TEMP_NAME = /^\.\d{1,10}\.json\.[0-9a-f]{12}\.tmp$/;

export interface DirOptions {
  /** The state directory (created 0700 when missing; its parent must exist). */
  root: string;
  codec: RecordCodec;
  log: (line: string) => void;
  /** A loaded record must also pass this (e.g. its KRB-CRED must be readable); else it is quarantined. */
  validate?: (cred: StoredCredential) => void;
  /** Who holds the lock when it is taken, for the refusal: "stop that store first, ...". */
  lockHint?: string;
}

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e);
}

const ERRNO_WORDS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
};

/** A write the storage refused, as E_STORAGE naming what and why (the errno behind E_IO, in words). */
function storageError(what: string, e: unknown): Krb5BridgeError {
  let cause: unknown = e;
  while (cause && (cause as { cause?: unknown }).cause && !(cause as NodeJS.ErrnoException).syscall) cause = (cause as { cause?: unknown }).cause;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? errnoOf(e);
  return new Krb5BridgeError('E_STORAGE', `${what}: ${code}${ERRNO_WORDS[code] ? ` (${ERRNO_WORDS[code]})` : ''}`, { cause: e });
}

function readNoFollow(path: string): string {
  const fd = fs.openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

export class DirRecordStore extends ViewStore {
  readonly description: string;
  readonly creds: string;
  readonly corrupt: string;
  private lockFd: number | undefined;

  private constructor(
    readonly root: string,
    codec: RecordCodec,
    log: (line: string) => void,
  ) {
    super(codec, log);
    this.description = `state directory ${root}`;
    this.creds = join(root, 'creds');
    this.corrupt = join(root, 'corrupt');
  }

  /** Check and lock the state directory, then load every record. */
  static async open(o: DirOptions): Promise<DirRecordStore> {
    const s = new DirRecordStore(o.root, o.codec, o.log);
    for (const d of [s.root, s.creds, s.corrupt]) ensureTrustedDir(d, 'state directory');
    s.lockFd = lockStateDir(s.root, o.lockHint ?? 'stop that store first, or give this one another --state-dir');
    try {
      await s.loadAll(o.validate ?? (() => undefined));
    } catch (e) {
      unlockStateDir(s.lockFd);
      throw e;
    }
    return s;
  }

  recordPath(uid: number): string {
    return join(this.creds, `${uid}.json`);
  }

  private async loadAll(validate: (cred: StoredCredential) => void): Promise<void> {
    for (const name of fs.readdirSync(this.creds).sort()) {
      const path = join(this.creds, name);
      if (isTempName(name) || OLD_TEMP_NAME.test(name)) {
        fs.rmSync(path, { force: true });
        this.log(`removed leftover temporary file ${path} (an interrupted write; the previous record, if any, is intact)`);
        continue;
      }
      const m = RECORD_NAME.exec(name);
      try {
        if (!m) throw new Krb5BridgeError('E_STATE', 'not a record file name (<uid>.json)');
        if (!fs.lstatSync(path).isFile()) throw new Krb5BridgeError('E_STATE', 'not a regular file');
        const uid = Number(m[1]);
        const { cred, kid } = this.codec.decode(uid, readNoFollow(path));
        validate(cred);
        if (kid === undefined) {
          // A plaintext record from before encryption at rest: read once, rewritten sealed now.
          await this.writeSealed(uid, this.codec.encode(cred));
          this.log(`record ${path} was plaintext (written before encryption at rest); rewritten encrypted with key ${this.codec.keys.current.id}`);
        }
        this.load(cred);
      } catch (e) {
        this.quarantine(name, (e as Error).message);
      }
    }
  }

  private quarantine(name: string, why: string): void {
    const from = join(this.creds, name);
    const to = join(this.corrupt, `${name}.${Date.now()}`);
    try {
      fs.renameSync(from, to);
      this.log(`corrupt record ${from} moved to ${to}: ${why}`);
    } catch (e) {
      this.log(`corrupt record ${from} could not be moved to ${to} (${errnoOf(e)}); ignored: ${why}`);
    }
  }

  protected async writeSealed(uid: number, sealed: string): Promise<void> {
    try {
      await writeFileAtomic(this.recordPath(uid), sealed, { what: 'store record' });
    } catch (e) {
      throw storageError(`cannot save the record of uid ${uid} in ${this.creds}`, e);
    }
  }

  protected async removeSealed(uid: number): Promise<void> {
    const path = this.recordPath(uid);
    try {
      await fsp.rm(path, { force: true });
      await fsyncDir(this.creds);
    } catch (e) {
      throw storageError(`cannot remove ${path}`, e);
    }
  }

  protected async readSealed(uid: number): Promise<string | undefined> {
    try {
      return readNoFollow(this.recordPath(uid));
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return undefined;
      throw new Krb5BridgeError('E_IO', `cannot read ${this.recordPath(uid)}: ${errnoOf(e)}`, { cause: e });
    }
  }

  async storedUids(): Promise<number[]> {
    const out: number[] = [];
    for (const name of fs.readdirSync(this.creds)) {
      const m = RECORD_NAME.exec(name);
      if (m) out.push(Number(m[1]));
    }
    return out.sort((a, b) => a - b);
  }

  async close(): Promise<void> {
    this.stopRetrying();
    await this.settled();
    if (this.lockFd !== undefined) unlockStateDir(this.lockFd);
    this.lockFd = undefined;
  }
}
