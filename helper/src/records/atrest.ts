/**
 * Encryption at rest (docs/security.md): every stored record is AES-256-GCM encrypted with a key
 * from a root-only key file, a fresh random 96-bit IV per write, and the uid plus the format
 * version as additional authenticated data, so a record cannot be moved to another uid's file or
 * downgraded without the tag failing. The key file may hold several keys: the first encrypts, all
 * decrypt. That is what makes rotation crash-safe (see rotate.ts): old keys stay in the file until
 * no record uses them. The key file itself is keyfile.ts.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Krb5BridgeError } from '../errors';

/** The envelope's format version; part of the AAD. */
export const ENVELOPE_VERSION = 2;
export const KEY_BYTES = 32;
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
