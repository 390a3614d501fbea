import * as fs from 'node:fs';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { deleteRecord, loadAll, openStateDir, recordPath, writeRecord } from '../../helper/src/store/persist';
import { CredRecord, serializeRecord } from '../../helper/src/store/state';
import { Krb5BridgeError } from '../../helper/src/errors';
import { KeyRing, newKey, open } from '../../helper/src/store/atrest';

const ring = new KeyRing(newKey(1));

const rec = (uid: number, endtime = 2_000_000_000): CredRecord => ({
  uid,
  principal: `u${uid}@TEST`,
  endtime,
  renew_till: endtime + 100,
  authtime: 1_700_000_000,
  stored_at: 1_700_000_001,
  creds: Buffer.from(`krbcred-${uid}`).toString('base64'),
});

let base: string;
let lines: string[];
const log = (l: string): void => void lines.push(l);
const accept = (): void => undefined;

beforeEach(() => {
  base = mkdtempSync('/tmp/krb5bridge-persist-');
  lines = [];
});
afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

function stateError(fn: () => unknown): Krb5BridgeError {
  try {
    fn();
  } catch (e) {
    return e as Krb5BridgeError;
  }
  throw new Error('expected E_STATE');
}

describe('state directory', () => {
  test('created 0700 with creds/ and corrupt/ 0700', () => {
    const p = openStateDir(join(base, 'state'), ring);
    for (const d of [p.root, p.creds, p.corrupt]) expect(fs.statSync(d).mode & 0o7777).toBe(0o700);
  });

  test('group- or other-writable directory is refused, naming path and mode', () => {
    const dir = join(base, 'state');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.chmodSync(dir, 0o770);
    const e = stateError(() => openStateDir(dir, ring));
    expect(e.code).toBe('E_STATE');
    expect(e.message).toContain(`${dir} is writable by group or others (mode 0770)`);
    fs.chmodSync(dir, 0o757);
    expect(stateError(() => openStateDir(dir, ring)).message).toContain('(mode 0757)');
  });

  test('a directory owned by another user is refused', () => {
    const dir = join(base, 'state');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.chownSync(dir, 65534, 65534);
    expect(stateError(() => openStateDir(dir, ring)).message).toContain(`${dir} is owned by uid 65534, not 0 (mode 0700)`);
  });

  test('a symlinked creds/ is refused', () => {
    const dir = join(base, 'state');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.mkdirSync(join(base, 'elsewhere'), { mode: 0o700 });
    fs.symlinkSync(join(base, 'elsewhere'), join(dir, 'creds'));
    expect(stateError(() => openStateDir(dir, ring)).message).toContain(`${join(dir, 'creds')} is not a directory`);
  });

  test('a missing parent is E_STATE naming the path', () => {
    const e = stateError(() => openStateDir(join(base, 'no/such/state'), ring));
    expect(e.message).toContain(`cannot create ${join(base, 'no/such/state')}: ENOENT`);
  });
});

describe('records', () => {
  test('write: 0600, exact content, no temporary file left; load reads it back', async () => {
    const p = openStateDir(join(base, 'state'), ring);
    await writeRecord(p, rec(1001));
    const path = recordPath(p, 1001);
    expect(fs.statSync(path).mode & 0o7777).toBe(0o600);
    // Encrypted at rest: the file names neither the principal nor the ticket; it opens to the exact record.
    const text = fs.readFileSync(path, 'utf8');
    expect(text).not.toContain('u1001@TEST');
    expect(text).not.toContain(rec(1001).creds);
    expect(Object.keys(JSON.parse(text)).sort()).toEqual(['ct', 'iv', 'kid', 'tag', 'v']);
    expect(open(ring, 1001, text)).toEqual({ plain: serializeRecord(rec(1001)), kid: 1 });
    expect(fs.readdirSync(p.creds)).toEqual(['1001.json']);
    expect(loadAll(p, accept, log)).toEqual([rec(1001)]);
  });

  test('replace keeps one file per uid; delete removes it', async () => {
    const p = openStateDir(join(base, 'state'), ring);
    await writeRecord(p, rec(1001, 1));
    await writeRecord(p, rec(1001, 2));
    expect(loadAll(p, accept, log)).toEqual([rec(1001, 2)]);
    await deleteRecord(p, 1001);
    await deleteRecord(p, 1001); // missing is fine
    expect(fs.readdirSync(p.creds)).toEqual([]);
  });

  test('a leftover temporary file (crash before rename) is removed, never loaded', async () => {
    const p = openStateDir(join(base, 'state'), ring);
    await writeRecord(p, rec(1001, 5));
    const temp = join(p.creds, '.1001.json.0123456789ab.tmp');
    fs.writeFileSync(temp, '{"uid":1001,"principal":"half-writ', { mode: 0o600 });
    expect(loadAll(p, accept, log)).toEqual([rec(1001, 5)]);
    expect(fs.existsSync(temp)).toBe(false);
    expect(lines.join('\n')).toContain(`removed leftover temporary file ${temp}`);
  });

  test.each([
    ['truncated JSON', '1002.json', '{"uid":1002,"princ', /record is not JSON/],
    ['uid not matching the name', '1003.json', serializeRecord(rec(1004)), /uid 1004 in a file named for uid 1003/],
    ['extra field', '1005.json', JSON.stringify({ ...rec(1005), admin: true }), /unknown field "admin"/],
    ['bad name', 'alice.json', serializeRecord(rec(1006)), /not a record file name/],
  ])('corrupt record (%s) is quarantined and logged; the rest loads', async (_n, name, text, why) => {
    const p = openStateDir(join(base, 'state'), ring);
    await writeRecord(p, rec(1001));
    fs.writeFileSync(join(p.creds, name), text, { mode: 0o600 });
    expect(loadAll(p, accept, log)).toEqual([rec(1001)]);
    expect(fs.existsSync(join(p.creds, name))).toBe(false);
    const moved = fs.readdirSync(p.corrupt);
    expect(moved).toHaveLength(1);
    expect(moved[0]).toMatch(new RegExp(`^${name.replace('.', '\\.')}\\.\\d+$`));
    expect(lines.join('\n')).toMatch(why);
    expect(lines.join('\n')).toContain(`corrupt record ${join(p.creds, name)} moved to ${join(p.corrupt, moved[0]!)}`);
  });

  test('a record the check refuses (e.g. KRB-CRED libkrb5 cannot read) is quarantined', async () => {
    const p = openStateDir(join(base, 'state'), ring);
    await writeRecord(p, rec(1001));
    await writeRecord(p, rec(1002));
    const check = (r: CredRecord): void => {
      if (r.uid === 1002) throw new Krb5BridgeError('E_PROTOCOL', 'garbage KRB-CRED');
    };
    expect(loadAll(p, check, log).map((r) => r.uid)).toEqual([1001]);
    expect(fs.readdirSync(p.corrupt)[0]).toMatch(/^1002\.json\.\d+$/);
  });

  test('a symlink in creds/ is quarantined, its target untouched', async () => {
    const p = openStateDir(join(base, 'state'), ring);
    const target = join(base, 'target');
    fs.writeFileSync(target, serializeRecord(rec(1007)));
    fs.symlinkSync(target, join(p.creds, '1007.json'));
    expect(loadAll(p, accept, log)).toEqual([]);
    expect(lines.join('\n')).toMatch(/not a regular file/);
    expect(fs.readFileSync(target, 'utf8')).toBe(serializeRecord(rec(1007)));
  });
});
