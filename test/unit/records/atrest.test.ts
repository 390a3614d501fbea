/**
 * Encryption at rest and key rotation: records are AES-256-GCM envelopes bound to their uid; the
 * key file must be root's and private; a legacy plaintext record is rewritten encrypted; rotation
 * loses nothing, even interrupted or racing with writes; no principal or ticket bytes in clear.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { KeyRing, newKey, open, seal } from '../../../helper/src/records/atrest';
import { RecordCodec, serializeRecord } from '../../../helper/src/records/codec';
import { DirRecordStore } from '../../../helper/src/records/dir';
import { formatKeyFile, loadKeyFile, loadOrCreateKeyFile } from '../../../helper/src/records/keyfile';
import { rotateKey } from '../../../helper/src/records/rotate';
import type { StoredCredential } from '../../../helper/src/records/types';

const TICKET = Buffer.from('KRB-CRED-SECRET-BYTES-0123456789');
const rec = (uid: number, endtime = 2_000_000_000): StoredCredential => ({
  uid,
  principal: `user${uid}@SECRET.REALM`,
  endtime,
  renew_till: endtime + 100,
  authtime: 1_700_000_000,
  stored_at: 1_700_000_001,
  creds: Buffer.concat([TICKET, Buffer.from(String(uid))]).toString('base64'),
});

let base: string;
const lines: string[] = [];
const log = (l: string): void => void lines.push(l);
const opened: DirRecordStore[] = [];
beforeEach(() => {
  base = fs.mkdtempSync('/tmp/krb5bridge-atrest-');
  lines.length = 0;
});
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  fs.rmSync(base, { recursive: true, force: true });
});

/** The dir backend on base/state, sealing with `ring` (closed by the previous holder first). */
async function state(ring: KeyRing): Promise<DirRecordStore> {
  for (const s of opened.splice(0)) await s.close();
  const s = await DirRecordStore.open({ root: join(base, 'state'), codec: new RecordCodec(ring), log });
  opened.push(s);
  return s;
}

const loaded = (s: DirRecordStore): StoredCredential[] => s.list().map((e) => e.cred);
const put = (s: DirRecordStore, r: StoredCredential): Promise<unknown> => s.put(r, { kind: 'any' });

/** Every file under dir, recursively, as one buffer per file. */
function allFiles(dir: string): Buffer[] {
  const out: Buffer[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...allFiles(p));
    else if (e.isFile()) out.push(fs.readFileSync(p));
  }
  return out;
}

/** No principal name, no ticket bytes (raw or base64) anywhere in the files under dir. */
function expectNothingInClear(dir: string, uids: number[]): void {
  for (const f of allFiles(dir)) {
    expect(f.includes('SECRET.REALM')).toBe(false);
    expect(f.includes(TICKET)).toBe(false);
    for (const u of uids) expect(f.includes(rec(u).creds.slice(0, 24))).toBe(false);
  }
}

function keyFile(ring: KeyRing): string {
  const f = join(base, 'store.key');
  fs.writeFileSync(f, formatKeyFile(ring), { mode: 0o600 });
  return f;
}

describe('envelopes', () => {
  const ring = new KeyRing(newKey(7));

  test('round trip; a new IV each time; bound to the uid', () => {
    const a = seal(ring, 1001, 'plain text');
    const b = seal(ring, 1001, 'plain text');
    expect(a).not.toBe(b);
    expect(open(ring, 1001, a)).toEqual({ plain: 'plain text', kid: 7 });
    expect(() => open(ring, 1002, a)).toThrow(/fails authentication with key 7 \(tampered, truncated, or moved from another uid's file\)/);
  });

  test('a flipped bit, a cut tag or an unknown key is E_STATE, never garbage', () => {
    const env = JSON.parse(seal(ring, 1001, 'x'.repeat(100)));
    const ct = Buffer.from(env.ct, 'base64');
    ct[3] ^= 1;
    expect(() => open(ring, 1001, JSON.stringify({ ...env, ct: ct.toString('base64') }))).toThrow(expect.objectContaining({ code: 'E_STATE' }));
    expect(() => open(ring, 1001, JSON.stringify({ ...env, tag: env.tag.slice(0, 8) }))).toThrow(/bad IV or tag length/);
    expect(() => open(ring, 1001, JSON.stringify({ ...env, kid: 8 }))).toThrow(/encrypted with key 8, which the key file does not hold \(keys: 7\)/);
  });
});

describe('the key file', () => {
  test('created 0600 with one key when missing; read back the same', async () => {
    const f = join(base, 'sub', 'store.key');
    const first = await loadOrCreateKeyFile(f);
    expect(first.created).toBe(true);
    expect(fs.statSync(f).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateKeyFile(f);
    expect(again.created).toBe(false);
    expect(again.ring.current.key.equals(first.ring.current.key)).toBe(true);
    expect(fs.readdirSync(join(base, 'sub'))).toEqual(['store.key']);
  });

  test('group/other access or another owner: refused naming path and mode', () => {
    const f = keyFile(new KeyRing(newKey(1)));
    fs.chmodSync(f, 0o640);
    expect(() => loadKeyFile(f)).toThrow(
      expect.objectContaining({ code: 'E_UNSAFE_PATH', message: `refusing an unsafe path: store key file ${f} has mode 0640: group or others may access it; chmod 0600 it (and consider the key exposed: rotate it)` }),
    );
    fs.chmodSync(f, 0o604);
    expect(() => loadKeyFile(f)).toThrow(/has mode 0604/);
    fs.chmodSync(f, 0o600);
    fs.chownSync(f, 65534, 65534);
    expect(() => loadKeyFile(f)).toThrow(expect.objectContaining({ code: 'E_UNSAFE_PATH', message: expect.stringContaining(`store key file ${f} is owned by uid 65534, not 0 (mode 0600)`) }));
    fs.chownSync(f, 0, 0);
    fs.symlinkSync(f, join(base, 'link.key'));
    expect(() => loadKeyFile(join(base, 'link.key'))).toThrow(/it is a symbolic link/);
  });

  test('a bad line is E_CONFIG naming the line, without printing the line (it may hold a key)', () => {
    const f = join(base, 'store.key');
    fs.writeFileSync(f, '# k\nkey 1 c2hvcnQ=\n', { mode: 0o600 });
    let msg = '';
    try {
      loadKeyFile(f);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain(`${f}:2: expected "key <id> <base64 of 32 bytes>"`);
    expect(msg).not.toContain('c2hvcnQ');
  });
});

describe('records on disk', () => {
  test('state dir holds no principal name or ticket bytes in clear', async () => {
    const ring = new KeyRing(newKey(1));
    const p = await state(ring);
    for (const u of [1001, 1002, 1003]) await put(p, rec(u));
    expectNothingInClear(p.root, [1001, 1002, 1003]);
    expect(loaded(await state(ring))).toEqual([rec(1001), rec(1002), rec(1003)]);
  });

  test('a record copied over another uid\'s file is quarantined, not loaded as that uid', async () => {
    const ring = new KeyRing(newKey(1));
    const p = await state(ring);
    await put(p, rec(1001));
    fs.copyFileSync(p.recordPath(1001), p.recordPath(1002));
    expect(loaded(await state(ring))).toEqual([rec(1001)]);
    expect(lines.join('\n')).toMatch(/1002\.json moved to .*fails authentication/);
  });

  test('migration: a plaintext record from before is read once and rewritten encrypted', async () => {
    const ring = new KeyRing(newKey(3));
    const p = await state(ring);
    fs.writeFileSync(p.recordPath(1001), serializeRecord(rec(1001)), { mode: 0o600 });
    const q = await state(ring);
    expect(loaded(q)).toEqual([rec(1001)]);
    expect(lines.join('\n')).toContain(`record ${q.recordPath(1001)} was plaintext (written before encryption at rest); rewritten encrypted with key 3`);
    expect(await q.sealedWith(1001)).toBe(3);
    expectNothingInClear(q.root, [1001]);
    lines.length = 0;
    expect(loaded(await state(ring))).toEqual([rec(1001)]);
    expect(lines).toEqual([]);
  });
});

describe('key rotation', () => {
  test('every record re-encrypted with a new key, old key gone, nothing lost', async () => {
    const kf = keyFile(new KeyRing(newKey(1)));
    const ring = loadKeyFile(kf);
    const p = await state(ring);
    for (let u = 1001; u <= 1050; u++) await put(p, rec(u));
    const r = await rotateKey(p, ring, kf, log);
    expect(r).toEqual({ id: 2, rewritten: 50, total: 50, dropped: [1] });
    const fresh = loadKeyFile(kf);
    expect(fresh.all().map((k) => k.id)).toEqual([2]);
    expect(loaded(await state(fresh))).toHaveLength(50);
    expect(fs.statSync(kf).mode & 0o777).toBe(0o600);
    expectNothingInClear(join(base, 'state'), [1001, 1050]);
  });

  test('interrupted after the new key was added and half the records rewritten: a restart reads all; rotating again finishes', async () => {
    const kf = keyFile(new KeyRing(newKey(1)));
    const ring = loadKeyFile(kf);
    const p = await state(ring);
    for (let u = 1001; u <= 1010; u++) await put(p, rec(u));
    // Crash simulated: a rotation that dies when it reaches the sixth record (the key file's own write goes through).
    const real = fs.renameSync;
    let n = 0;
    const spy = jest.spyOn(fs.promises, 'rename').mockImplementation(async (a, b) => {
      if (String(b).includes('/creds/') && ++n > 5) throw Object.assign(new Error('simulated crash'), { code: 'EIO' });
      real(a, b);
    });
    await expect(rotateKey(p, ring, kf, log)).rejects.toMatchObject({ code: 'E_STORAGE' });
    spy.mockRestore();
    const ids: number[] = [];
    for (let u = 1001; u <= 1010; u++) ids.push((await p.sealedWith(u))!);
    expect(ids.filter((i) => i === 2)).toHaveLength(5);
    expect(ids.filter((i) => i === 1)).toHaveLength(5);
    // "Restart": the key file still holds both keys, so every record loads.
    expect(loadKeyFile(kf).all().map((k) => k.id)).toEqual([2, 1]);
    const ring2 = loadKeyFile(kf);
    const restarted = await state(ring2);
    expect(loaded(restarted)).toHaveLength(10);
    const r = await rotateKey(restarted, ring2, kf, log);
    expect(r).toMatchObject({ id: 3, rewritten: 10, total: 10, dropped: [2, 1] });
    expect(loaded(await state(loadKeyFile(kf)))).toHaveLength(10);
  });

  test('writes racing with a rotation: every record, old or new, is readable with the final key alone', async () => {
    const kf = keyFile(new KeyRing(newKey(1)));
    const ring = loadKeyFile(kf);
    const p = await state(ring);
    for (let u = 1001; u <= 1100; u++) await put(p, rec(u));
    const writes: Promise<unknown>[] = [];
    for (let u = 1001; u <= 1200; u++) writes.push(put(p, rec(u, 2_000_000_100)));
    const rot = rotateKey(p, ring, kf, log);
    for (let u = 1201; u <= 1250; u++) writes.push(put(p, rec(u, 2_000_000_200)));
    await Promise.all([rot, ...writes]);
    const only = loadKeyFile(kf);
    expect(only.all()).toHaveLength(1);
    const all = loaded(await state(only));
    expect(all).toHaveLength(250);
    expect(lines.join('\n')).not.toMatch(/corrupt record/);
    expect(all.find((r) => r.uid === 1050)?.endtime).toBe(2_000_000_100);
  });
});
