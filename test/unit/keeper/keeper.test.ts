/**
 * The node keeper's parts without a cluster: its socket protocol, the root-only socket (the
 * kernel's peer uid, tried from a real non-root process), in-place refresh of a ccache file, and
 * the sweep's refusals. The whole keeper on a real cluster is test/e2e/renewal.test.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Krb5BridgeError } from '../../../helper/src/errors';
import { parseKeeperRequest } from '../../../helper/src/keeper/protocol';
import { expandHostlist } from '../../../helper/src/slurm/hostlist';
import { jobsOnNode } from '../../../helper/src/slurm/squeue';
import { replaceCcache } from '../../../helper/src/keeper/replace';
import { Keeper } from '../../../helper/src/keeper/keeper';
import { build } from '../../../helper/src/keeper/server';
import { ensureJobsDir, writeRecord } from '../../../helper/src/node/record';

const isRoot = process.getuid?.() === 0;
const rootTest = isRoot ? test : test.skip;
const U = 4343;
const G = 4343;

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof Krb5BridgeError) return `${e.code}: ${e.detail}`;
    throw e;
  }
  throw new Error('nothing thrown');
}

describe('keeper protocol', () => {
  test('parses the four requests', () => {
    expect(parseKeeperRequest('materialise 1001 100 42')).toEqual({ op: 'materialise', uid: 1001, gid: 100, job: '42' });
    expect(parseKeeperRequest('destroy 1001 42')).toEqual({ op: 'destroy', uid: 1001, job: '42' });
    expect(parseKeeperRequest('ping')).toEqual({ op: 'ping' });
    expect(parseKeeperRequest('stats')).toEqual({ op: 'stats' });
  });
  test.each([
    ['materialise 1001 100 ../etc', 'E_PROTOCOL: keeper request is not a short line of lower-case words and digits'],
    ['materialise 1001 100', 'E_PROTOCOL: usage: materialise UID GID JOB'],
    ['materialise 1001 100 1 2', 'E_PROTOCOL: usage: materialise UID GID JOB'],
    ['materialise 99999999999 1 1', 'E_USAGE: --uid must be decimal digits (0..4294967294), got "99999999999"'],
    ['destroy 1001', 'E_PROTOCOL: usage: destroy UID JOB'],
    ['MATERIALISE 1 1 1', 'E_PROTOCOL: keeper request is not a short line of lower-case words and digits'],
    ['shutdown', 'E_PROTOCOL: unknown keeper request "shutdown"'],
    ['ping 1', 'E_PROTOCOL: usage: ping'],
    ['x'.repeat(600), 'E_PROTOCOL: keeper request is not a short line of lower-case words and digits'],
  ])('refuses %#', (line, want) => {
    expect(codeOf(() => parseKeeperRequest(line))).toBe(want);
  });
});

describe('which jobs run on this node (squeue -o "%A %N")', () => {
  test('expands Slurm host lists', () => {
    expect(expandHostlist('a,n[01-03,7]x,b')).toEqual(['a', 'n01x', 'n02x', 'n03x', 'n7x', 'b']);
    expect(expandHostlist('r[1-2]n[1-2]')).toEqual(['r1n1', 'r1n2', 'r2n1', 'r2n2']);
    expect(() => expandHostlist('n[1-9999999]')).toThrow(/cannot read the host list "n\[1-9999999\]": range 1-9999999/);
  });
  test('keeps the jobs whose node list names this node; pending jobs (no node) are skipped', () => {
    const out = '12 localhost\n13 n[1-4]\n14 (null)\n15 \n16 n[5-6],localhost\n';
    expect([...jobsOnNode(out, 'localhost')]).toEqual(['12', '16']);
    expect([...jobsOnNode(out, 'n3')]).toEqual(['13']);
    expect(() => jobsOnNode('garbage line here\n', 'n1')).toThrow(/not "<job id> <node list>"/);
  });
});

describe('files (as root)', () => {
  let dir: string;
  let state: string;
  let ccdir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kb-keeper-'));
    state = join(dir, 'state');
    ccdir = join(dir, 'cc');
    mkdirSync(ccdir, { mode: 0o1777 });
    chmodSync(ccdir, 0o1777);
    ensureJobsDir(state);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function jobCcache(job: string, content: string): Promise<string> {
    const path = join(ccdir, `krb5cc_${U}_${job}_AbC123`);
    writeFileSync(path, content, { mode: 0o600 });
    chownSync(path, U, G);
    await writeRecord(state, job, { uid: U, path });
    return path;
  }

  rootTest('replaceCcache swaps the contents at the same path: new inode, owner and mode kept, no temporary file left', async () => {
    const path = await jobCcache('7', 'old');
    const ino = lstatSync(path).ino;
    expect(await replaceCcache(state, { job: '7', uid: U, gid: G, path }, Buffer.from('new'))).toBe('replaced');
    const st = lstatSync(path);
    expect(readFileSync(path, 'utf8')).toBe('new');
    expect([st.uid, st.gid, st.mode & 0o7777, st.nlink]).toEqual([U, G, 0o600, 1]);
    expect(st.ino).not.toBe(ino);
    expect(spawnSync('ls', ['-A', ccdir], { encoding: 'utf8' }).stdout.trim()).toBe(`krb5cc_${U}_7_AbC123`);
  });

  rootTest('replaceCcache writes nothing when the record is gone or the file was replaced by a symlink', async () => {
    const path = await jobCcache('8', 'old');
    unlinkSync(join(state, 'jobs', '8'));
    expect(await replaceCcache(state, { job: '8', uid: U, gid: G, path }, Buffer.from('new'))).toBe('gone');
    expect(readFileSync(path, 'utf8')).toBe('old');
    expect(existsSync(join(state, 'jobs', '8.lock'))).toBe(false);

    const path9 = await jobCcache('9', 'old');
    unlinkSync(path9);
    symlinkSync('/etc/passwd', path9);
    expect(await replaceCcache(state, { job: '9', uid: U, gid: G, path: path9 }, Buffer.from('new'))).toBe('changed');
    expect(lstatSync(path9).isSymbolicLink()).toBe(true);
    expect(readFileSync('/etc/passwd', 'utf8')).not.toBe('new');
  });

  function keeperWith(running: () => Promise<Set<string> | { error: string }>, lines: string[]): Keeper {
    return new Keeper({
      stateDir: state,
      ccacheDir: ccdir,
      marginSeconds: 300,
      fetch: async () => Promise.reject(new Krb5BridgeError('E_NOT_FOUND', 'unused')),
      renew: async () => Promise.reject(new Error('unused')),
      runningJobs: running,
      log: (l) => lines.push(l),
    });
  }

  rootTest('the sweep removes ended jobs through their records only; Slurm unreachable: nothing removed', async () => {
    const ended = await jobCcache('21', 'x');
    const runningCc = await jobCcache('22', 'x');
    const lookAlike = join(ccdir, `krb5cc_${U}_23_ZZZZZZ`); // no record: not ours
    writeFileSync(lookAlike, 'user file');
    chownSync(lookAlike, U, G);
    const old = new Date(Date.now() - 60_000);
    for (const j of ['21', '22']) spawnSync('touch', ['-d', old.toISOString(), join(state, 'jobs', j)]);
    const lines: string[] = [];

    const down = keeperWith(async () => ({ error: 'squeue failed: slurm_load_jobs error: Unable to contact slurm controller' }), lines);
    expect(await down.sweep()).toBe(0);
    expect(await down.sweep()).toBe(0);
    expect(existsSync(ended)).toBe(true);
    expect(lines).toEqual(['sweep skipped: Slurm cannot say which jobs run here (squeue failed: slurm_load_jobs error: Unable to contact slurm controller); nothing removed']);

    const up = keeperWith(async () => new Set(['22']), lines);
    expect(await up.sweep()).toBe(1);
    expect(existsSync(ended)).toBe(false);
    expect(existsSync(join(state, 'jobs', '21'))).toBe(false);
    expect(existsSync(runningCc)).toBe(true);
    expect(readFileSync(lookAlike, 'utf8')).toBe('user file');
    expect(lines[1]).toBe(`sweep: job 21 (uid ${U}) no longer runs on this node: destroyed ${ended}`);
  });

  rootTest('the sweep leaves a record written after Slurm was asked (a job starting right now)', async () => {
    const fresh = await jobCcache('31', 'x');
    const k = keeperWith(async () => new Set<string>(), []);
    expect(await k.sweep()).toBe(0);
    expect(existsSync(fresh)).toBe(true);
  });

  rootTest('the socket answers root, and refuses any other uid by the kernel\'s peer credentials', async () => {
    const sock = join(dir, 'k', 'keeper.sock');
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'k'), { mode: 0o755 }); // reachable by others, so the uid check itself is tried
    const lines: string[] = [];
    const d = build({ ...keeperOpts(), socket: sock, sweep: false, log: (l) => lines.push(l) });
    await d.listen();
    try {
      expect((lstatSync(sock).mode & 0o777).toString(8)).toBe('600');
      expect(await ask(sock, 'ping\n')).toMatch(/^ok krb5bridge-keeper \S+ jobs=0\n$/);
      expect(await ask(sock, 'bogus\n')).toBe('error 23 krb5bridge: E_PROTOCOL: malformed message in the store protocol: unknown keeper request "bogus"\n');
      chmodSync(sock, 0o666);
      const client = `const s=require('net').connect(${JSON.stringify(sock)});let b='';s.on('data',d=>b+=d);s.on('end',()=>process.stdout.write(b));s.on('error',e=>process.stdout.write('ERR '+e.code));s.write('materialise 4343 4343 5\\n');`;
      // Asynchronously: this process is the keeper and must go on answering meanwhile.
      const r = await new Promise<{ stdout: string }>((resolve) => {
        let stdout = '';
        const p = spawn('runuser', ['-u', 'nobody', '--', process.execPath, '-e', client], { stdio: ['ignore', 'pipe', 'inherit'] });
        p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        p.on('close', () => resolve({ stdout }));
      });
      const nobody = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());
      expect(r.stdout).toBe(`error 32 krb5bridge: E_PERMISSION: permission denied: only root may use the keeper; you are uid ${nobody}\n`);
      expect(lines).toContain(`refused a connection from uid ${nobody} (pid ${lines.find((l) => l.startsWith('refused'))?.match(/pid (\d+)/)?.[1]}): only root may use the keeper`);
      expect(existsSync(join(state, 'jobs', '5'))).toBe(false);

      // A second keeper on the same socket is refused; so is a path that is not a socket.
      const second = build({ ...keeperOpts(), socket: sock, sweep: false, log: () => undefined });
      await expect(second.listen()).rejects.toThrow(`another keeper already answers on ${sock}; stop it first`);
    } finally {
      await d.close();
    }
    writeFileSync(sock, 'x');
    const third = build({ ...keeperOpts(), socket: sock, sweep: false, log: () => undefined });
    await expect(third.listen()).rejects.toThrow(`${sock} exists and is not a socket; remove it or set keeper_socket elsewhere`);
  });

  function keeperOpts() {
    return {
      stateDir: state,
      ccacheDir: ccdir,
      marginSeconds: 300,
      fetch: async () => Promise.reject(new Krb5BridgeError('E_NOT_FOUND', 'no credential stored for uid 4343')),
      renew: async () => Promise.reject(new Error('unused')),
      runningJobs: async () => new Set<string>(),
    };
  }
});

function ask(sock: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(sock);
    let b = '';
    s.on('data', (d) => (b += d.toString()));
    s.on('end', () => resolve(b));
    s.on('error', reject);
    s.write(line);
  });
}
