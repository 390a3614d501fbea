/**
 * Encryption at rest (docs/security.md): every stored record is AES-256-GCM encrypted with a key
 * from a root-only key file, a fresh random 96-bit IV per write, and the uid plus the format
 * version as additional authenticated data, so a record cannot be moved to another uid's file or
 * downgraded without the tag failing. The key file may hold several keys: the first encrypts, all
 * decrypt. That is what makes rotation crash-safe (see rotate.ts): old keys stay in the file until
 * no record uses them.
 *
 * Key file format (text, 0600, owner root):
 *   # comment
 *   key <id> <base64 of 32 bytes>     the first key line encrypts new records
 *   key <id> <base64 of 32 bytes>     older keys, decrypt only
 */
import * as fs from 'node:fs';
import { constants } from 'node:fs';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { Krb5BridgeError } from '../errors';

export const DEFAULT_KEY_FILE = '/etc/krb5bridge/store.key';
/** The envelope's format version; part of the AAD. */
export const ENVELOPE_VERSION = 2;
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface StoreKey {
  id: number;
  key: Buffer;
}

/** The keys in use: `current` encrypts; every key in `all` (current included) decrypts. */
export class KeyRing {
  constructor(
    private cur: StoreKey,
    private readonly byId: Map<number, Buffer> = new Map([[cur.id, cur.key]]),
  ) {
    byId.set(cur.id, cur.key);
  }

  get current(): StoreKey {
    return this.cur;
  }

  /** Keys newest first, the current one at the head (the key file's order). */
  all(): StoreKey[] {
    const rest = [...this.byId.entries()].filter(([id]) => id !== this.cur.id).sort((a, b) => b[0] - a[0]);
    return [this.cur, ...rest.map(([id, key]) => ({ id, key }))];
  }

  get(id: number): Buffer | undefined {
    return this.byId.get(id);
  }

  /** Start encrypting with `k`; older keys stay for decryption until dropOld(). */
  setCurrent(k: StoreKey): void {
    this.byId.set(k.id, k.key);
    this.cur = k;
  }

  /** Forget every key but the current one (wiping them). */
  dropOld(): number[] {
    const dropped: number[] = [];
    for (const [id, key] of this.byId) {
      if (id === this.cur.id) continue;
      key.fill(0);
      this.byId.delete(id);
      dropped.push(id);
    }
    return dropped;
  }

  nextId(): number {
    return Math.max(...this.byId.keys()) + 1;
  }
}

export function newKey(id: number): StoreKey {
  return { id, key: randomBytes(KEY_BYTES) };
}

function aad(uid: number): Buffer {
  return Buffer.from(`krb5bridge-record v${ENVELOPE_VERSION} uid=${uid}`, 'utf8');
}

/** Plain record text -> the envelope file text (JSON: no principal, no ticket bytes in clear). */
export function seal(ring: KeyRing, uid: number, plain: string): string {
  const { id, key } = ring.current;
  const iv = randomBytes(IV_BYTES);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(aad(uid));
  const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  const tag = c.getAuthTag();
  return JSON.stringify({ v: ENVELOPE_VERSION, kid: id, iv: iv.toString('base64'), ct: ct.toString('base64'), tag: tag.toString('base64') }) + '\n';
}

export interface Opened {
  plain: string;
  /** The key id that decrypted it; undefined for a legacy plaintext record (to be rewritten). */
  kid: number | undefined;
}

/** True when the file text is an encrypted envelope (not a legacy plaintext record). */
export function isEnvelope(obj: Record<string, unknown>): boolean {
  return 'kid' in obj && 'ct' in obj;
}

/**
 * Envelope text -> the plain record text. A legacy plaintext record (format 1, from before
 * encryption at rest) is passed through with kid undefined so the caller rewrites it encrypted.
 */
export function open(ring: KeyRing, uid: number, text: string): Opened {
  let obj: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    obj = v as Record<string, unknown>;
  } catch {
    throw new Krb5BridgeError('E_STATE', 'record is not JSON');
  }
  if (!isEnvelope(obj)) {
    if ('principal' in obj && 'creds' in obj) return { plain: text, kid: undefined };
    throw new Krb5BridgeError('E_STATE', 'record file is neither an encrypted record nor a legacy one');
  }
  const keys = Object.keys(obj).sort().join(',');
  if (keys !== 'ct,iv,kid,tag,v' || obj.v !== ENVELOPE_VERSION) throw new Krb5BridgeError('E_STATE', `encrypted record has fields ${keys.slice(0, 80)} / version ${String(obj.v).slice(0, 10)}`);
  const kid = obj.kid;
  if (typeof kid !== 'number' || !Number.isInteger(kid)) throw new Krb5BridgeError('E_STATE', 'encrypted record: bad key id');
  const key = ring.get(kid);
  if (!key) throw new Krb5BridgeError('E_STATE', `encrypted with key ${kid}, which the key file does not hold (keys: ${ring.all().map((k) => k.id).join(', ')})`);
  const b64 = (k: string): Buffer => {
    const v = obj[k];
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw new Krb5BridgeError('E_STATE', `encrypted record: "${k}" is not base64`);
    return Buffer.from(v, 'base64');
  };
  const iv = b64('iv');
  const tag = b64('tag');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new Krb5BridgeError('E_STATE', 'encrypted record: bad IV or tag length');
  try {
    const d = createDecipheriv('aes-256-gcm', key, iv);
    d.setAAD(aad(uid));
    d.setAuthTag(tag);
    const plain = Buffer.concat([d.update(b64('ct')), d.final()]);
    const s = plain.toString('utf8');
    plain.fill(0);
    return { plain: s, kid };
  } catch {
    throw new Krb5BridgeError('E_STATE', `encrypted record fails authentication with key ${kid} (tampered, truncated, or moved from another uid's file)`);
  }
}

// ---------------------------------------------------------------- the key file

function modeString(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** Parse key file text strictly: E_CONFIG naming file and line. */
export function parseKeyFile(text: string, path: string): KeyRing {
  const keys: StoreKey[] = [];
  text.split('\n').forEach((line, i) => {
    const s = line.trim();
    if (s === '' || s.startsWith('#')) return;
    const m = /^key\s+(\d{1,9})\s+([A-Za-z0-9+/]{43}=)$/.exec(s);
    if (!m) throw new Krb5BridgeError('E_CONFIG', `${path}:${i + 1}: expected "key <id> <base64 of 32 bytes>" (the line is not shown: it may hold a key)`);
    const id = Number(m[1]);
    if (id < 1 || keys.some((k) => k.id === id)) throw new Krb5BridgeError('E_CONFIG', `${path}:${i + 1}: key id ${id} is 0 or repeated`);
    const key = Buffer.from(m[2]!, 'base64');
    if (key.length !== KEY_BYTES) throw new Krb5BridgeError('E_CONFIG', `${path}:${i + 1}: the key is not ${KEY_BYTES} bytes`);
    keys.push({ id, key });
  });
  if (keys.length === 0) throw new Krb5BridgeError('E_CONFIG', `${path}: holds no key line`);
  const ring = new KeyRing(keys[0]!);
  for (const k of keys.slice(1)) ring.setCurrent(k);
  ring.setCurrent(keys[0]!);
  return ring;
}

export function formatKeyFile(ring: KeyRing): string {
  const lines = ['# krb5bridge store key file: the first key encrypts, every key decrypts.', '# Keep it 0600 root and out of the state directory and its backups.'];
  for (const k of ring.all()) lines.push(`key ${k.id} ${k.key.toString('base64')}`);
  return lines.join('\n') + '\n';
}

/**
 * Read the key file, refusing it unless it is a regular file owned by root (our euid) that no
 * one else can read or write: the message names the path and the mode.
 */
export function loadKeyFile(path: string): KeyRing {
  let fd: number;
  try {
    fd = fs.openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ELOOP' ? 'it is a symbolic link' : code ?? String(e);
    throw new Krb5BridgeError('E_UNSAFE_PATH', `cannot open the store key file ${path}: ${why}`, { cause: e });
  }
  try {
    const st = fs.fstatSync(fd);
    const euid = process.geteuid ? process.geteuid() : 0;
    if (!st.isFile()) throw new Krb5BridgeError('E_UNSAFE_PATH', `store key file ${path} is not a regular file`);
    if (st.uid !== euid) throw new Krb5BridgeError('E_UNSAFE_PATH', `store key file ${path} is owned by uid ${st.uid}, not ${euid} (mode ${modeString(st.mode)}); chown root it`);
    if ((st.mode & 0o077) !== 0) throw new Krb5BridgeError('E_UNSAFE_PATH', `store key file ${path} has mode ${modeString(st.mode)}: group or others may access it; chmod 0600 it (and consider the key exposed: rotate it)`);
    return parseKeyFile(fs.readFileSync(fd, 'utf8'), path);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Durably write the key file: temporary file 0600 in the same directory, fsync, rename, fsync of
 * the directory. A crash leaves the old file or the new one, never a partial one.
 */
export function writeKeyFile(path: string, ring: KeyRing): void {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    fs.fchmodSync(fd, 0o600);
    fs.writeSync(fd, formatKeyFile(ring));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(temp, path);
    const dfd = fs.openSync(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw new Krb5BridgeError('E_IO', `cannot write the store key file ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
}

/**
 * The key ring for the store: load `path`, or, when it does not exist, create it with one new
 * key (its directory 0700 if missing). Creation is atomic (link of a complete temporary file), so
 * two stores starting at once agree on one key. Returns whether it was created, for the log.
 */
export function loadOrCreateKeyFile(path: string): { ring: KeyRing; created: boolean } {
  if (!fs.existsSync(path)) {
    const dir = dirname(path);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.new`);
    const fd = fs.openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      fs.fchmodSync(fd, 0o600);
      fs.writeSync(fd, formatKeyFile(new KeyRing(newKey(1))));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    let created = true;
    try {
      fs.linkSync(temp, path); // fails with EEXIST if another store won the race
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Krb5BridgeError('E_IO', `cannot create the store key file ${path}: ${(e as NodeJS.ErrnoException).code}`, { cause: e });
      created = false;
    } finally {
      fs.rmSync(temp, { force: true });
    }
    return { ring: loadKeyFile(path), created };
  }
  return { ring: loadKeyFile(path), created: false };
}
