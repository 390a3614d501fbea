/**
 * The store's key file (encryption at rest, atrest.ts): root's, 0600, opened through the one
 * trusted-path check and written with the one atomic write.
 *
 * Format (text):
 *   # comment
 *   key <id> <base64 of 32 bytes>     the first key line encrypts new records
 *   key <id> <base64 of 32 bytes>     older keys, decrypt only (until a rotation finishes)
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Krb5BridgeError } from '../errors';
import { writeFileAtomic } from '../util/atomic';
import { readTrusted } from '../util/trustedpath';
import { KEY_BYTES, KeyRing, StoreKey, newKey } from './atrest';

export const DEFAULT_KEY_FILE = '/etc/krb5bridge/store.key';

/** Parse key file text strictly: E_CONFIG naming file and line (never showing the line: it may hold a key). */
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

/** Read the key file: refused unless it is root's (our euid), not readable by others, in trusted directories. */
export function loadKeyFile(path: string): KeyRing {
  const text = readTrusted(path, {
    what: 'store key file',
    forbid: 0o077,
    modeRemedy: 'chmod 0600 it (and consider the key exposed: rotate it)',
  });
  return parseKeyFile(text, path);
}

/** Durably replace the key file (a crash leaves the old file or the new one, never a part). */
export async function writeKeyFile(path: string, ring: KeyRing): Promise<void> {
  await writeFileAtomic(path, formatKeyFile(ring), { what: 'store key file' });
}

/**
 * Bring keys the key file holds now into the running ring (another store host rotated, or
 * `rotate-key --prepare` added one, and the file was copied here): keys not in the ring are added
 * for decryption; if the file's first key is another one, it becomes the one that encrypts. Keys
 * the file no longer holds stay in the ring (records may still use them). Returns what changed.
 */
export function mergeKeyFile(path: string, ring: KeyRing): { added: number[]; current: number | undefined } {
  const file = loadKeyFile(path);
  const added: number[] = [];
  const cur = ring.current;
  for (const k of file.all()) {
    if (ring.get(k.id) === undefined) {
      ring.setCurrent(k);
      added.push(k.id);
    }
  }
  const fileCurrent = file.current;
  const ringKey = ring.get(fileCurrent.id)!;
  ring.setCurrent({ id: fileCurrent.id, key: ringKey });
  return { added, current: fileCurrent.id !== cur.id ? fileCurrent.id : undefined };
}

/** Add a new key (the next id) as the last line of the key file: it decrypts, the first key still encrypts. */
export async function prepareKey(path: string): Promise<number> {
  const ring = loadKeyFile(path);
  const k = newKey(ring.nextId());
  const withNew = new KeyRing(ring.current, new Map(ring.all().map((o) => [o.id, o.key])));
  // formatKeyFile writes the current key first, then the others newest first: the new key is second.
  withNew.setCurrent(k);
  withNew.setCurrent(ring.current);
  await writeFileAtomic(path, formatKeyFile(withNew), { what: 'store key file' });
  return k.id;
}

/**
 * The key ring for the store: load `path`, or, when it does not exist, create it with one new key
 * (its directory 0700 if missing). Creation is exclusive (link of a complete temporary file), so
 * two stores starting at once agree on one key. Returns whether it was created, for the log.
 */
export async function loadOrCreateKeyFile(path: string): Promise<{ ring: KeyRing; created: boolean }> {
  let created = false;
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    created = (await writeFileAtomic(path, formatKeyFile(new KeyRing(newKey(1))), { what: 'store key file', exclusive: true })).written;
  }
  return { ring: loadKeyFile(path), created };
}
