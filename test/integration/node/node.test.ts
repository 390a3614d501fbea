/**
 * The compute-node side on real files with real credentials: materialise writes a ccache that
 * klist/kvno use, reuses it, writes one under concurrency, and every refusal has its exact code.
 * fetch returns a KRB-CRED made by readTgts from a real KDC ticket (the store is not needed here).
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { haveKdc, setNativeEnv, startKdc, TestKdc } from '../../lib/kdc';
import type * as K from '../../../helper/src/krb5';
import type * as N from '../../../helper/src/node';
import { Krb5BridgeError } from '../../../helper/src/errors';

const describeKdc = haveKdc() ? describe : describe.skip;
if (!haveKdc()) console.warn('SKIPPING node tests: krb5kdc/kdb5_util/kadmin.local/kinit not installed (apt-get install krb5-kdc krb5-user)');
const isRoot = process.geteuid?.() === 0;
if (!isRoot) console.warn('node tests need root (chown to a test uid); run them as root');

const UID = 54321;
const GID = 54322;

async function codeOf(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (e) {
    if (e instanceof Krb5BridgeError) return e.code;
    throw e;
  }
  throw new Error('expected a Krb5BridgeError, nothing was thrown');
}

(isRoot ? describeKdc : describe.skip)('node: materialise and destroy', () => {
  let kdc: TestKdc;
  let k: typeof K;
  let n: typeof N;
  let krbcred: Buffer;
  let root: string;
  let ccacheDir: string;
  let stateDir: string;
  let job = 100;
  let fetches = 0;
  const fetch = async () => {
    fetches++;
    return Buffer.from(krbcred); // materialise wipes what it gets
  };
  const tool = (cmd: string, args: string[]) => execFileSync(cmd, args, { env: kdc.env, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  const opts = (j: number, extra: Partial<N.MaterialiseOptions> = {}): N.MaterialiseOptions => ({ uid: UID, gid: GID, job: j, ccacheDir, stateDir, fetch, ...extra });
  const ccachesOf = (j: number) => readdirSync(ccacheDir).filter((f) => f.startsWith(`krb5cc_${UID}_${j}_`));
  /** materialise, for the tests that look at the path it gives. */
  const matPath = async (o: N.MaterialiseOptions): Promise<string> => (await n.materialise(o)).path;

  beforeAll(async () => {
    kdc = await startKdc();
    setNativeEnv('KRB5_CONFIG', kdc.krb5Config);
    k = await import('../../../helper/src/krb5');
    n = await import('../../../helper/src/node');
    kdc.addPrincipal('alice');
    kdc.kinit('alice', `FILE:${kdc.dir}/alice`);
    krbcred = k.readTgts(`FILE:${kdc.dir}/alice`).krbcred;
    root = mkdtempSync(join(tmpdir(), 'k5node-'));
    ccacheDir = join(root, 'tmp');
    mkdirSync(ccacheDir);
    chmodSync(ccacheDir, 0o1777); // like /tmp
    stateDir = join(root, 'state');
  });
  afterAll(() => {
    kdc?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });
  beforeEach(() => {
    job++;
    fetches = 0;
  });

  test('materialise writes a 0600 ccache owned by the job uid, then the record; klist and kvno use it', async () => {
    const path = await matPath(opts(job));
    expect(path).toMatch(new RegExp(`^${ccacheDir}/krb5cc_${UID}_${job}_[A-Za-z0-9]{6}$`));
    const st = lstatSync(path);
    expect(st.isFile()).toBe(true);
    expect(st.mode & 0o7777).toBe(0o600);
    expect([st.uid, st.gid, st.nlink]).toEqual([UID, GID, 1]);
    const rec = join(stateDir, 'jobs', String(job));
    expect(readFileSync(rec, 'utf8')).toBe(`${UID} ${path}\n`);
    expect(lstatSync(rec).mode & 0o7777).toBe(0o600);
    expect(lstatSync(stateDir).mode & 0o7777).toBe(0o700);
    expect(lstatSync(join(stateDir, 'jobs')).mode & 0o7777).toBe(0o700);
    expect(tool('klist', ['-c', path])).toContain(`Default principal: alice@${kdc.realm}`);
    expect(tool('kvno', ['-c', path, `host/localhost@${kdc.realm}`])).toContain('kvno = ');
    expect(fetches).toBe(1);
    expect(readdirSync(join(stateDir, 'jobs')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  test('a second step reuses the ccache without fetching', async () => {
    const first = await matPath(opts(job));
    const second = await matPath(opts(job));
    expect(second).toBe(first);
    expect(fetches).toBe(1);
    expect(ccachesOf(job)).toHaveLength(1);
  });

  test('the store cannot give the credential now: the job still gets its own path (pending), filled later at that path', async () => {
    const down = async (): Promise<Buffer> => {
      throw new Krb5BridgeError('E_STORE_UNREACHABLE', 'cannot connect to 127.0.0.1:1: ECONNREFUSED');
    };
    // Without pendingOnFailure (a caller that cannot wait): the error, and nothing left behind.
    expect(await codeOf(() => n.materialise(opts(job, { fetch: down })))).toBe('E_STORE_UNREACHABLE');
    expect(readdirSync(join(stateDir, 'jobs')).filter((f) => f.startsWith(`${job}`))).toEqual([]);
    // With it: a reserved random name in ccache_dir, nothing created there, a pending record.
    const r = await n.materialise(opts(job, { fetch: down, pendingOnFailure: true }));
    expect(r.path).toMatch(new RegExp(`^${ccacheDir}/krb5cc_${UID}_${job}_[A-Za-z0-9]{6}$`));
    expect(r.pending).toMatchObject({ code: 'E_STORE_UNREACHABLE' });
    expect(existsSync(r.path)).toBe(false);
    expect(readFileSync(join(stateDir, 'jobs', String(job)), 'utf8')).toBe(`${UID} ${r.path} pending ${GID}\n`);
    expect(readdirSync(join(stateDir, 'jobs')).filter((f) => f.startsWith(`${job}`)).sort()).toEqual([String(job), `${job}.lock`]); // destroy removes both
    expect(n.materialiseAnswer(r)).toBe(`KRB5CCNAME=FILE:${r.path}\tpending E_STORE_UNREACHABLE cannot connect to 127.0.0.1:1: ECONNREFUSED`);
    // Another step while the store is still down: the same path (every step of the job shares it).
    expect((await n.materialise(opts(job, { fetch: down, pendingOnFailure: true }))).path).toBe(r.path);
    // The store answers again: written at that very path, even over what the job put there meanwhile.
    symlinkSync('/etc/passwd', r.path);
    const filled = await n.materialise(opts(job));
    expect(filled.path).toBe(r.path);
    expect(filled.ticket).toMatchObject({ client: `alice@${kdc.realm}` });
    expect(n.materialiseAnswer(filled)).toMatch(new RegExp(`^KRB5CCNAME=FILE:${r.path}\tticket alice@${kdc.realm} \\d+ \\d+$`));
    const st = lstatSync(r.path);
    expect([st.isFile(), st.uid, st.gid, st.mode & 0o7777]).toEqual([true, UID, GID, 0o600]);
    expect(readFileSync(join(stateDir, 'jobs', String(job)), 'utf8')).toBe(`${UID} ${r.path}\n`);
    expect(tool('klist', ['-c', r.path])).toContain(`Default principal: alice@${kdc.realm}`);
    expect(readFileSync('/etc/passwd', 'utf8')).toMatch(/^root:/);
  });

  test('concurrent steps of one job write one ccache and fetch once', async () => {
    const slowFetch = async () => {
      fetches++;
      await new Promise((r) => setTimeout(r, 150));
      return Buffer.from(krbcred);
    };
    const paths = await Promise.all([1, 2, 3, 4, 5].map(() => matPath(opts(job, { fetch: slowFetch }))));
    expect(new Set(paths).size).toBe(1);
    expect(fetches).toBe(1);
    expect(ccachesOf(job)).toHaveLength(1);
  });

  test('the job lock is a real flock: another process holding it makes materialise wait', async () => {
    mkdirSync(join(stateDir, 'jobs'), { recursive: true });
    const lock = join(stateDir, 'jobs', `${job}.lock`);
    writeFileSync(lock, '', { mode: 0o600 });
    const holder = spawn('/usr/bin/flock', [lock, '-c', 'echo locked; sleep 0.6'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((r) => holder.once('exit', r));
    await new Promise<void>((r) => holder.stdout!.once('data', () => r()));
    const t0 = Date.now();
    await matPath(opts(job));
    expect(Date.now() - t0).toBeGreaterThan(350);
    await exited;
    expect(ccachesOf(job)).toHaveLength(1);
  });

  test('a ccache replaced by a symlink is never followed: materialise writes a new one', async () => {
    const first = await matPath(opts(job));
    const victim = join(root, `victim-${job}`);
    writeFileSync(victim, 'do not touch\n', { mode: 0o644 });
    unlinkSync(first);
    symlinkSync(victim, first);
    const second = await matPath(opts(job));
    expect(second).not.toBe(first);
    expect(lstatSync(first).isSymbolicLink()).toBe(true);
    expect(readlinkSync(first)).toBe(victim);
    expect(readFileSync(victim, 'utf8')).toBe('do not touch\n');
    expect(lstatSync(victim).uid).toBe(0);
    expect(readFileSync(join(stateDir, 'jobs', String(job)), 'utf8')).toBe(`${UID} ${second}\n`);
    expect(fetches).toBe(2);
  });

  test('a ccache with the wrong mode, owner or a second link is not reused', async () => {
    const first = await matPath(opts(job));
    chmodSync(first, 0o644);
    const second = await matPath(opts(job));
    expect(second).not.toBe(first);
    execFileSync('/bin/ln', [second, join(ccacheDir, `hardlink-${job}`)]);
    const third = await matPath(opts(job));
    expect(third).not.toBe(second);
    expect(fetches).toBe(3);
  });

  test('E_UNSAFE_PATH: a symlink planted at the record path', async () => {
    mkdirSync(join(stateDir, 'jobs'), { recursive: true });
    const target = join(root, `fake-record-${job}`);
    writeFileSync(target, `${UID} ${ccacheDir}/krb5cc_${UID}_${job}_AAAAAA\n`);
    symlinkSync(target, join(stateDir, 'jobs', String(job)));
    expect(await codeOf(() => n.materialise(opts(job)))).toBe('E_UNSAFE_PATH');
    expect(fetches).toBe(0);
    expect(ccachesOf(job)).toEqual([]);
  });

  test('E_STATE: state dir group-writable, a symlink, or not owned by root', async () => {
    const gw = join(root, `state-gw-${job}`);
    mkdirSync(gw, { mode: 0o770 });
    chmodSync(gw, 0o770);
    expect(await codeOf(() => n.materialise({ ...opts(job), stateDir: gw }))).toBe('E_STATE');
    const link = join(root, `state-link-${job}`);
    symlinkSync(stateDir, link);
    expect(await codeOf(() => n.materialise({ ...opts(job), stateDir: link }))).toBe('E_STATE');
    const owned = join(root, `state-user-${job}`);
    mkdirSync(owned, { mode: 0o700 });
    execFileSync('/bin/chown', [`${UID}`, owned]);
    expect(await codeOf(() => n.materialise({ ...opts(job), stateDir: owned }))).toBe('E_STATE');
    expect(fetches).toBe(0);
    expect(ccachesOf(job)).toEqual([]);
  });

  test('E_UNSAFE_PATH: ccache dir that is a symlink, missing, or writable by others without sticky bit', async () => {
    const link = join(root, `ccdir-link-${job}`);
    symlinkSync(ccacheDir, link);
    expect(await codeOf(() => n.materialise({ ...opts(job), ccacheDir: link }))).toBe('E_UNSAFE_PATH');
    expect(await codeOf(() => n.materialise({ ...opts(job), ccacheDir: join(root, 'nope') }))).toBe('E_UNSAFE_PATH');
    const open = join(root, `ccdir-open-${job}`);
    mkdirSync(open);
    chmodSync(open, 0o777);
    expect(await codeOf(() => n.materialise({ ...opts(job), ccacheDir: open }))).toBe('E_UNSAFE_PATH');
    expect(fetches).toBe(0);
  });

  test('E_UID_REFUSED for uid 0; E_USAGE for ids that are not digits', async () => {
    expect(await codeOf(() => n.materialise({ ...opts(job), uid: 0 }))).toBe('E_UID_REFUSED');
    expect(await codeOf(() => n.materialise({ ...opts(job), job: '../../etc' }))).toBe('E_USAGE');
    expect(await codeOf(() => n.materialise({ ...opts(job), uid: '12a' }))).toBe('E_USAGE');
    expect(await codeOf(() => n.materialise({ ...opts(job), gid: '-1' }))).toBe('E_USAGE');
    expect(await codeOf(() => n.destroy({ uid: UID, job: '1;rm', stateDir }))).toBe('E_USAGE');
    expect(fetches).toBe(0);
  });

  test('failures leave no partial file and no record: fetch error, garbage credential', async () => {
    const failing = async (): Promise<Buffer> => {
      throw new Krb5BridgeError('E_NOT_FOUND', 'uid 54321');
    };
    expect(await codeOf(() => n.materialise(opts(job, { fetch: failing })))).toBe('E_NOT_FOUND');
    expect(await codeOf(() => n.materialise(opts(job, { fetch: async () => Buffer.from('garbage') })))).toBe('E_PROTOCOL');
    expect(ccachesOf(job)).toEqual([]);
    expect(existsSync(join(stateDir, 'jobs', String(job)))).toBe(false);
  });

  test('destroy removes the ccache and the record; again: nothing to destroy', async () => {
    const path = await matPath(opts(job));
    expect(n.destroy({ uid: UID, job, stateDir })).toEqual({ removed: path, message: `destroyed ${path}` });
    expect(existsSync(path)).toBe(false);
    expect(existsSync(join(stateDir, 'jobs', String(job)))).toBe(false);
    expect(existsSync(join(stateDir, 'jobs', `${job}.lock`))).toBe(false);
    expect(n.destroy({ uid: UID, job, stateDir })).toEqual({ message: 'nothing to destroy' });
    expect(n.destroy({ uid: UID, job, stateDir: join(root, 'never-made') })).toEqual({ message: 'nothing to destroy' });
  });

  test('destroy leaves a planted symlink and its target, removes the record, reports E_UNSAFE_PATH', async () => {
    const path = await matPath(opts(job));
    const victim = join(root, `victim-d-${job}`);
    writeFileSync(victim, 'precious\n');
    execFileSync('/bin/chown', [`${UID}`, victim]); // even a file of the job's own uid
    unlinkSync(path);
    symlinkSync(victim, path);
    expect(await codeOf(() => n.destroy({ uid: UID, job, stateDir }))).toBe('E_UNSAFE_PATH');
    expect(lstatSync(path).isSymbolicLink()).toBe(true);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(existsSync(join(stateDir, 'jobs', String(job)))).toBe(false);
    expect(n.destroy({ uid: UID, job, stateDir })).toEqual({ message: 'nothing to destroy' });
  });

  test('destroy leaves a planted directory or a file of another owner', async () => {
    const path = await matPath(opts(job));
    unlinkSync(path);
    mkdirSync(path);
    writeFileSync(join(path, 'inside'), 'x');
    expect(await codeOf(() => n.destroy({ uid: UID, job, stateDir }))).toBe('E_UNSAFE_PATH');
    expect(existsSync(join(path, 'inside'))).toBe(true);

    job++;
    const p2 = await matPath(opts(job));
    execFileSync('/bin/chown', ['0', p2]);
    expect(await codeOf(() => n.destroy({ uid: UID, job, stateDir }))).toBe('E_UNSAFE_PATH');
    expect(existsSync(p2)).toBe(true);
  });

  test('destroy for another uid than the record touches nothing (E_STATE)', async () => {
    const path = await matPath(opts(job));
    expect(await codeOf(() => n.destroy({ uid: UID + 1, job, stateDir }))).toBe('E_STATE');
    expect(existsSync(path)).toBe(true);
    expect(existsSync(join(stateDir, 'jobs', String(job)))).toBe(true);
  });

  test('a record naming a path that is not this job ccache is refused (E_STATE) and never acted on', async () => {
    mkdirSync(join(stateDir, 'jobs'), { recursive: true });
    const victim = join(root, `victim-r-${job}`);
    writeFileSync(victim, 'keep\n');
    execFileSync('/bin/chown', [`${UID}`, victim]);
    writeFileSync(join(stateDir, 'jobs', String(job)), `${UID} ${victim}\n`, { mode: 0o600 });
    expect(await codeOf(() => n.materialise(opts(job)))).toBe('E_STATE');
    expect(await codeOf(() => n.destroy({ uid: UID, job, stateDir }))).toBe('E_STATE');
    expect(readFileSync(victim, 'utf8')).toBe('keep\n');
  });
});
