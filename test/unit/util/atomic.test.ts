/**
 * The one atomic write (helper/src/util/atomic.ts), in both of its ways: durable (through libuv's
 * pool, fsync of the file and the directory) and not (direct calls, for job records, job ccaches
 * and the push marker). Both must give the same file, the same refusals and leave no temporary file.
 */
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTempName, writeFileAtomic } from '../../../helper/src/util/atomic';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'krb5bridge-atomic-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe.each([
  ['durable', true],
  ['not durable', false],
])('writeFileAtomic, %s', (_name, durable) => {
  test('writes the data at mode 0600 whatever the umask, replaces an old file, leaves no temporary file', async () => {
    const path = join(dir, 'rec');
    writeFileSync(path, 'old contents, longer than the new\n', { mode: 0o644 });
    const old = process.umask(0);
    try {
      const r = await writeFileAtomic(path, 'new\n', { durable, what: 'test record' });
      expect(r.written).toBe(true);
      expect(r.ino).toBe(lstatSync(path).ino);
    } finally {
      process.umask(old);
    }
    expect(readFileSync(path, 'utf8')).toBe('new\n');
    expect(lstatSync(path).mode & 0o7777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['rec']);
  });

  test('exclusive: an existing target is kept and reported, nothing written', async () => {
    const path = join(dir, 'cc');
    writeFileSync(path, 'first');
    const r = await writeFileAtomic(path, 'second', { durable, exclusive: true });
    expect(r).toEqual({ ino: 0, written: false });
    expect(readFileSync(path, 'utf8')).toBe('first');
    expect(readdirSync(dir)).toEqual(['cc']);
    const fresh = await writeFileAtomic(join(dir, 'new'), 'x', { durable, exclusive: true });
    expect(fresh.written).toBe(true);
  });

  test('owner: the file is given to that uid and gid before it is put in place', async () => {
    if (process.geteuid!() !== 0) return; // chown needs root; the e2e tests run as root too
    const path = join(dir, 'user-file');
    await writeFileAtomic(path, 'x', { durable, owner: { uid: 65534, gid: 65534 } });
    const st = lstatSync(path);
    expect([st.uid, st.gid]).toEqual([65534, 65534]);
  });

  test('a directory it cannot write in: E_IO naming what and where, no file left', async () => {
    const missing = join(dir, 'no-such-dir', 'rec');
    await expect(writeFileAtomic(missing, 'x', { durable, what: 'job record' })).rejects.toMatchObject({
      code: 'E_IO',
      detail: expect.stringContaining(`cannot create a temporary file for the job record ${missing}: ENOENT`),
    });
    if (process.geteuid!() === 0) return; // root writes through mode 0500
    chmodSync(dir, 0o500);
    await expect(writeFileAtomic(join(dir, 'rec'), 'x', { durable })).rejects.toMatchObject({ code: 'E_IO' });
    chmodSync(dir, 0o700);
    expect(readdirSync(dir)).toEqual([]);
  });

  test('a target that is a directory: E_IO, the temporary file removed', async () => {
    const path = join(dir, 'target');
    mkdirSync(path);
    writeFileSync(join(path, 'inside'), 'keep');
    await expect(writeFileAtomic(path, 'x', { durable, what: 'store record' })).rejects.toMatchObject({
      code: 'E_IO',
      detail: expect.stringMatching(/^cannot write the store record .*target: EISDIR$/),
    });
    expect(readdirSync(dir).filter(isTempName)).toEqual([]);
    expect(readFileSync(join(path, 'inside'), 'utf8')).toBe('keep');
  });
});
