/**
 * The dir backend of the storage seam (helper/src/records/dir): the state directory's checks, one
 * sealed file per uid written with the one atomic write, leftovers of a crash removed, corrupt
 * files quarantined (never loaded, never lost), the lock that keeps two stores apart, and the
 * conditional puts every backend shares (fresher, any, version).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { DirRecordStore } from '../../../helper/src/records/dir';
import { RecordCodec, serializeRecord } from '../../../helper/src/records/codec';
import type { StoredCredential } from '../../../helper/src/records/types';
import { Krb5BridgeError } from '../../../helper/src/errors';
import { KeyRing, newKey, open } from '../../../helper/src/records/atrest';

const codec = new RecordCodec(new KeyRing(newKey(1)));

const rec = (uid: number, endtime = 2_000_000_000, authtime = 1_700_000_000): StoredCredential => ({
  uid,
  principal: `u${uid}@TEST`,
  endtime,
  renew_till: endtime + 100,
  authtime,
  stored_at: 1_700_000_001,
  creds: Buffer.from(`krbcred-${uid}`).toString('base64'),
});

let base: string;
let lines: string[];
const log = (l: string): void => void lines.push(l);
const opened: DirRecordStore[] = [];

beforeEach(() => {
  base = mkdtempSync('/tmp/krb5bridge-persist-');
  lines = [];
});
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  fs.rmSync(base, { recursive: true, force: true });
});

async function openDir(root = join(base, 'state'), validate?: (c: StoredCredential) => void): Promise<DirRecordStore> {
  const s = await DirRecordStore.open({ root, codec, log, validate });
  opened.push(s);
  return s;
}

/** Close and open again: what a restarted store loads. */
async function reopen(s: DirRecordStore, validate?: (c: StoredCredential) => void): Promise<DirRecordStore> {
  await s.close();
  opened.splice(opened.indexOf(s), 1);
  return openDir(s.root, validate);
}

const creds = (s: DirRecordStore): StoredCredential[] => s.list().map((e) => e.cred);

async function refusal(p: Promise<unknown>): Promise<Krb5BridgeError> {
  try {
    await p;
  } catch (e) {
    return e as Krb5BridgeError;
  }
  throw new Error('expected a refusal');
}

describe('state directory', () => {
  test('created 0700 with creds/ and corrupt/ 0700', async () => {
    const s = await openDir();
    for (const d of [s.root, s.creds, s.corrupt]) expect(fs.statSync(d).mode & 0o7777).toBe(0o700);
  });

  test('group- or other-writable directory is refused, naming path and mode', async () => {
    const dir = join(base, 'state');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.chmodSync(dir, 0o770);
    const e = await refusal(openDir(dir));
    expect(e.code).toBe('E_STATE');
    expect(e.message).toContain(`state directory ${dir} has mode 0770: group or others may write it; chmod 0700 ${dir}`);
    fs.chmodSync(dir, 0o757);
    expect((await refusal(openDir(dir))).message).toContain('has mode 0757');
  });

  test('a directory owned by another user is refused', async () => {
    const dir = join(base, 'state');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.chownSync(dir, 65534, 65534);
    expect((await refusal(openDir(dir))).message).toContain(`state directory ${dir} is owned by uid 65534, not 0 (mode 0700)`);
  });

  test('a parent directory others can write (not sticky) is refused: they could swap the state directory', async () => {
    const parent = join(base, 'open');
    fs.mkdirSync(parent, { mode: 0o777 });
    fs.chmodSync(parent, 0o777);
    const e = await refusal(openDir(join(parent, 'state')));
    expect(e.message).toContain(`directory ${parent} is writable by group or others and not sticky (mode 0777); chmod go-w ${parent}`);
  });

  test('a symlinked creds/ is refused', async () => {
    const dir = join(base, 'state');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.mkdirSync(join(base, 'elsewhere'), { mode: 0o700 });
    fs.symlinkSync(join(base, 'elsewhere'), join(dir, 'creds'));
    expect((await refusal(openDir(dir))).message).toContain(`cannot open the state directory ${join(dir, 'creds')}: it is a symbolic link`);
  });

  test('a missing parent is E_STATE naming the path', async () => {
    const e = await refusal(openDir(join(base, 'no/such/state')));
    expect(e.message).toContain(`cannot create the state directory ${join(base, 'no/such/state')}: ENOENT`);
  });

  test('two stores never share a state directory: the second is refused while the first holds it', async () => {
    const first = await openDir();
    const e = await refusal(openDir(first.root));
    expect(e).toMatchObject({ code: 'E_STATE', message: expect.stringContaining(`${first.root} is in use by a running store (${join(first.root, 'store.lock')} is locked)`) });
    await reopen(first); // released by close
  });
});

describe('records', () => {
  test('write: 0600, sealed exact content, no temporary file left; a restart loads it back', async () => {
    let s = await openDir();
    await s.put(rec(1001), { kind: 'fresher' });
    const path = s.recordPath(1001);
    expect(fs.statSync(path).mode & 0o7777).toBe(0o600);
    // Encrypted at rest: the file names neither the principal nor the ticket; it opens to the exact record.
    const text = fs.readFileSync(path, 'utf8');
    expect(text).not.toContain('u1001@TEST');
    expect(text).not.toContain(rec(1001).creds);
    expect(Object.keys(JSON.parse(text)).sort()).toEqual(['ct', 'iv', 'kid', 'tag', 'v']);
    expect(open(codec.keys, 1001, text)).toEqual({ plain: serializeRecord(rec(1001)), kid: 1 });
    expect(fs.readdirSync(s.creds)).toEqual(['1001.json']);
    s = await reopen(s);
    expect(creds(s)).toEqual([rec(1001)]);
  });

  test('puts are conditional: fresher (a push), any (--force), version (the renewer); delete removes the file', async () => {
    let s = await openDir();
    expect((await s.put(rec(1001, 10), { kind: 'fresher' })).written).toBe(true);
    const older = await s.put(rec(1001, 5), { kind: 'fresher' });
    expect(older).toEqual({ written: false, current: s.get(1001) });
    expect((await s.put(rec(1001, 5, 1_800_000_000), { kind: 'fresher' })).written).toBe(true); // a new kinit: newer authtime
    const v = s.get(1001)!.version;
    expect((await s.put(rec(1001, 3), { kind: 'any' })).written).toBe(true);
    expect((await s.put(rec(1001, 99), { kind: 'version', version: v })).written).toBe(false); // replaced since v
    expect((await s.put(rec(1001, 99), { kind: 'version', version: s.get(1001)!.version })).written).toBe(true);
    s = await reopen(s);
    expect(creds(s)).toEqual([rec(1001, 99)]);
    expect(await s.delete(1001, 'not-the-version')).toBe(false);
    expect(await s.delete(1001)).toBe(true);
    expect(await s.delete(1001)).toBe(false); // missing is fine
    expect(fs.readdirSync(s.creds)).toEqual([]);
  });

  test('watchers see every change, with the version a compare-and-swap needs', async () => {
    const s = await openDir();
    const seen: string[] = [];
    const stop = s.watch((c) => seen.push(`${c.uid}:${c.entry ? c.entry.cred.endtime : 'removed'}`));
    await s.put(rec(1001, 7), { kind: 'any' });
    await s.put(rec(1001, 6), { kind: 'fresher' }); // not written: no event
    await s.delete(1001);
    stop();
    await s.put(rec(1002), { kind: 'any' });
    expect(seen).toEqual(['1001:7', '1001:removed']);
  });

  test('a write that fails (the disk) is E_STORAGE naming the errno in words, and changes neither the view nor the file', async () => {
    const s = await openDir();
    await s.put(rec(1001, 10), { kind: 'any' });
    const spy = jest.spyOn(fs.promises, 'rename').mockRejectedValueOnce(Object.assign(new Error('no space'), { code: 'ENOSPC' }));
    const e = await refusal(s.put(rec(1001, 20), { kind: 'fresher' }));
    spy.mockRestore();
    expect(e).toMatchObject({ code: 'E_STORAGE', detail: `cannot save the record of uid 1001 in ${s.creds}: ENOSPC (no space left on the device)` });
    expect(s.get(1001)!.cred.endtime).toBe(10);
    expect(fs.readdirSync(s.creds)).toEqual(['1001.json']);
  });

  test('a leftover temporary file (crash before rename) is removed, never loaded; older versions\' names too', async () => {
    let s = await openDir();
    await s.put(rec(1001, 5), { kind: 'any' });
    const temps = [join(s.creds, '.1001.json.0123456789ab.tmp'), join(s.creds, '.1001.json.Ab3dE6gH9k.tmp')];
    for (const t of temps) fs.writeFileSync(t, '{"uid":1001,"principal":"half-writ', { mode: 0o600 });
    s = await reopen(s);
    expect(creds(s)).toEqual([rec(1001, 5)]);
    for (const t of temps) {
      expect(fs.existsSync(t)).toBe(false);
      expect(lines.join('\n')).toContain(`removed leftover temporary file ${t}`);
    }
  });

  test.each([
    ['truncated JSON', '1002.json', '{"uid":1002,"princ', /record is not JSON/],
    ['uid not matching the name', '1003.json', serializeRecord(rec(1004)), /uid 1004 in a record stored for uid 1003/],
    ['extra field', '1005.json', JSON.stringify({ ...rec(1005), admin: true }), /unknown field "admin"/],
    ['bad name', 'alice.json', serializeRecord(rec(1006)), /not a record file name/],
  ])('corrupt record (%s) is quarantined and logged; the rest loads', async (_n, name, text, why) => {
    let s = await openDir();
    await s.put(rec(1001), { kind: 'any' });
    fs.writeFileSync(join(s.creds, name), text, { mode: 0o600 });
    s = await reopen(s);
    expect(creds(s)).toEqual([rec(1001)]);
    expect(fs.existsSync(join(s.creds, name))).toBe(false);
    const moved = fs.readdirSync(s.corrupt);
    expect(moved).toHaveLength(1);
    expect(moved[0]).toMatch(new RegExp(`^${name.replace('.', '\\.')}\\.\\d+$`));
    expect(lines.join('\n')).toMatch(why);
    expect(lines.join('\n')).toContain(`corrupt record ${join(s.creds, name)} moved to ${join(s.corrupt, moved[0]!)}`);
  });

  test('a record the check refuses (e.g. KRB-CRED libkrb5 cannot read) is quarantined', async () => {
    let s = await openDir();
    await s.put(rec(1001), { kind: 'any' });
    await s.put(rec(1002), { kind: 'any' });
    const check = (r: StoredCredential): void => {
      if (r.uid === 1002) throw new Krb5BridgeError('E_PROTOCOL', 'garbage KRB-CRED');
    };
    s = await reopen(s, check);
    expect(creds(s).map((r) => r.uid)).toEqual([1001]);
    expect(fs.readdirSync(s.corrupt)[0]).toMatch(/^1002\.json\.\d+$/);
  });

  test('a symlink in creds/ is quarantined, its target untouched', async () => {
    let s = await openDir();
    const target = join(base, 'target');
    fs.writeFileSync(target, serializeRecord(rec(1007)));
    fs.symlinkSync(target, join(s.creds, '1007.json'));
    s = await reopen(s);
    expect(creds(s)).toEqual([]);
    expect(lines.join('\n')).toMatch(/not a regular file/);
    expect(fs.readFileSync(target, 'utf8')).toBe(serializeRecord(rec(1007)));
  });
});
