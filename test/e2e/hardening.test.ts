/**
 * Hardening of every root path (issue 4 item 6), on the real cluster, by trying to break it:
 * - the store and keeper run with core dumps off and are not dumpable;
 * - a job's hostile environment (NODE_OPTIONS, LD_PRELOAD, LD_LIBRARY_PATH, KRB5_CONFIG as a FIFO,
 *   KRB5CCNAME, PATH, HOME) changes nothing root does, with the keeper and with the fallback
 *   (keeper stopped: slurmstepd starts the Node helper as root);
 * - things planted at the push marker path, at guessable ccache names and at the state dir.
 * Positive controls prove each hostile piece really fires (as the user) when something runs it.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chownSync, closeSync, constants as C, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync,
  readFileSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Cluster, REPO, TESTCLUSTER, User, clusterForFile } from '../lib/cluster';

let c: Cluster;
let vic: User;
let evil: User;
let X: string;

const cluster = clusterForFile();

beforeAll(() => {
  c = cluster.get();
  vic = c.adduser('kbhvic');
  evil = c.adduser('kbhevil');
  c.kinit(vic.name);
  X = mkdtempSync('/tmp/kbhard-');
  buildHostileDir(X, vic);
}, 60_000);

afterAll(() => {
  if (X) rmSync(X, { recursive: true, force: true });
});

const EVIL_C = `#include <stdio.h>
#include <unistd.h>
__attribute__((constructor)) static void evil(void) {
  char p[512]; snprintf(p, sizeof p, "%s/marks/so.%d.%d", EVILDIR, (int)geteuid(), (int)getpid());
  FILE *f = fopen(p, "w"); if (f) fclose(f);
}`;

/** evil.so, evil.js, fake node/squeue/scontrol/klist and a FIFO for KRB5_CONFIG, all the user's. */
function buildHostileDir(dir: string, u: User): void {
  mkdirSync(join(dir, 'marks'), { mode: 0o777 });
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'evil.c'), EVIL_C);
  const cc = spawnSync('gcc', ['-shared', '-fPIC', `-DEVILDIR="${dir}"`, '-o', join(dir, 'evil.so'), join(dir, 'evil.c')], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`gcc: ${cc.stderr}`);
  writeFileSync(join(dir, 'evil.js'), `require('fs').writeFileSync('${dir}/marks/js.' + process.geteuid() + '.' + process.pid, '');\n`);
  for (const b of ['node', 'squeue', 'scontrol', 'klist', 'sinfo', 'kinit']) {
    writeFileSync(join(dir, 'bin', b), `#!/bin/sh\n: > "${dir}/marks/bin-${b}.$(id -u).$$"\n`, { mode: 0o755 });
  }
  const mk = spawnSync('mkfifo', ['-m', '0644', join(dir, 'krb5.fifo')]);
  if (mk.status !== 0) throw new Error('mkfifo failed');
  spawnSync('chown', ['-R', `${u.uid}:${u.gid}`, dir]);
  chownSync(dir, u.uid, u.gid);
}

/** Markers written so far: "kind.euid". */
function marks(): string[] {
  return readdirSync(join(X, 'marks')).map((m) => m.replace(/\.\d+$/, '')).sort();
}

/** Poll the FIFO every 20 ms with open(O_WRONLY|O_NONBLOCK): it succeeds only while someone has it open for reading. */
function fifoWatch(fifo: string): { stop(): { polls: number; opened: number } } {
  let polls = 0;
  let opened = 0;
  const t = setInterval(() => {
    polls++;
    try {
      closeSync(openSync(fifo, C.O_WRONLY | C.O_NONBLOCK));
      opened++;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENXIO') opened++; // anything but "no reader" is suspicious
    }
  }, 20);
  return { stop: () => (clearInterval(t), { polls, opened }) };
}

function rootOwnedUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (lstatSync(p).uid === 0) out.push(p);
    if (e.isDirectory()) out.push(...rootOwnedUnder(p));
  }
  return out;
}

function tc(args: string[]): void {
  const r = spawnSync(TESTCLUSTER, [...args, '--dir', c.dir], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`testcluster ${args.join(' ')}: ${r.stderr}`);
}

describe('core dumps and dumpability', () => {
  /**
   * Can a root process without CAP_SYS_PTRACE read /proc/PID/environ of `pid`? That is what a
   * non-dumpable process refuses to a process of its own uid (ptrace access mode READ).
   */
  const readableWithoutPtraceCap = (pid: number): boolean =>
    spawnSync('setpriv', ['--bounding-set=-sys_ptrace', '--inh-caps=-sys_ptrace', '--', 'cat', `/proc/${pid}/environ`], { encoding: 'utf8', timeout: 10_000 }).status === 0;

  test('store and keeper: core file size 0, and not dumpable', async () => {
    const st = c.status();
    // Controls: a plain root process is readable; a root process that made itself non-dumpable
    // (prctl through the same libc) is not, if this kernel enforces dumpability (some sandboxed
    // kernels do not: then only the daemons' own reading of their state can be checked).
    const plain = spawn('sleep', ['30']);
    const nondump = spawn(process.execPath, ['-e', `require(${JSON.stringify(join(REPO, 'node_modules', 'koffi'))}).load('libc.so.6').func('int prctl(int, unsigned long, unsigned long, unsigned long, unsigned long)')(4, 0, 0, 0, 0); setTimeout(() => {}, 30000)`]);
    try {
      await new Promise((r) => setTimeout(r, 500));
      expect(readableWithoutPtraceCap(plain.pid as number)).toBe(true);
      const enforced = !readableWithoutPtraceCap(nondump.pid as number);
      for (const name of ['store', 'keeper']) {
        const pid = st[name] as number;
        expect(pid).toBeDefined();
        expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toMatch(/krb5bridge/);
        expect(readFileSync(`/proc/${pid}/limits`, 'utf8')).toMatch(/^Max core file size\s+0\s+0\s+bytes/m);
        // What the daemon read of itself with getrlimit and PR_GET_DUMPABLE, in its start-up line.
        expect(readFileSync(join(c.dir, 'log', `${name}.log`), 'utf8')).toMatch(/(listening on .*); core limit 0\/0, not dumpable\)$/m);
        if (enforced) expect({ name, readable: readableWithoutPtraceCap(pid) }).toEqual({ name, readable: false });
      }
    } finally {
      plain.kill();
      nondump.kill();
    }
  }, 30_000);

  test('a user\'s helper (push, ticket...): core limit 0 too', () => {
    const r = c.as(vic.name, ['sh', '-c', `${c.helper.join(' ')} ticket >/dev/null & p=$!; while kill -0 $p 2>/dev/null; do grep "core file" /proc/$p/limits; sleep 0.01; done; wait`]);
    // The default soft limit is already 0 here; the hard limit is what the helper lowers.
    expect(r.stdout).toMatch(/^Max core file size\s+0\s+0\s+bytes/m);
  });
});

describe('a job with a hostile environment', () => {
  const hostile = (): string =>
    [
      'ALL',
      `NODE_OPTIONS=--require=${X}/evil.js`,
      `LD_PRELOAD=${X}/evil.so`,
      `LD_LIBRARY_PATH=${X}`,
      `KRB5_CONFIG=${X}/krb5.fifo`,
      `KRB5CCNAME=FILE:${X}/cc`,
      `PATH=${X}/bin:/usr/bin:/bin`,
      `HOME=${X}`,
    ].join(',');
  // The task: report KRB5CCNAME; check it with the real config and a clean environment; then run
  // node and "node" from the hostile PATH (positive controls: they must fire, as the user).
  const task = (): string =>
    `echo "CC=$KRB5CCNAME"; env -i PATH=/usr/bin:/bin KRB5_CONFIG=${c.krb5Config} KRB5CCNAME="$KRB5CCNAME" klist | sed -n "s/^Default principal: /PRINCIPAL=/p"; node; /usr/bin/node -e 0`;

  async function hostileJob(): Promise<void> {
    rmSync(join(X, 'marks'), { recursive: true, force: true });
    mkdirSync(join(X, 'marks'), { mode: 0o777 });
    chownSync(join(X, 'marks'), vic.uid, vic.gid);
    const watch = fifoWatch(join(X, 'krb5.fifo'));
    const r = await c.asAsync(vic.name, ['srun', '-N1', `--export=${hostile()}`, 'sh', '-c', task()]);
    await new Promise((res) => setTimeout(res, 300)); // epilog destroy runs after srun returns
    const w = watch.stop();
    // The one line the plugin writes at task start, naming the ticket and the job's own ccache: no
    // error, no warning, nothing of the hostile environment.
    expect(r.stderr.split('\n').filter((l) => l.includes('krb5bridge'))).toEqual([
      expect.stringMatching(new RegExp(`^krb5bridge: this job uses the Kerberos ticket of ${vic.name}@${c.realm} held by the credential store \\(valid until [-0-9: ]+, renewed until [-0-9: ]+\\) in /tmp/krb5cc_${vic.uid}_\\d+_[A-Za-z0-9]{6}$`)),
    ]);
    expect(r.code).toBe(0);
    const job = /^CC=FILE:\/tmp\/krb5cc_(\d+)_(\d+)_[A-Za-z0-9]{6}$/m.exec(r.stdout);
    expect(job?.[1]).toBe(String(vic.uid));
    expect(r.stdout).toMatch(new RegExp(`^PRINCIPAL=${vic.name}@${c.realm}$`, 'm'));
    // Positive controls: the hostile pieces work, as the user, inside the task.
    const m = marks();
    expect(m).toEqual(expect.arrayContaining([`so.${vic.uid}`, `js.${vic.uid}`]));
    expect(m.filter((k) => /\.0$/.test(k))).toEqual([]); // nothing ran as root
    expect(w.polls).toBeGreaterThan(10);
    expect(w.opened).toBe(0); // nobody ever opened the FIFO KRB5_CONFIG named
    expect(existsSync(join(X, 'cc'))).toBe(false);
    expect(rootOwnedUnder(X)).toEqual([]); // HOME: root created nothing there
  }

  test('with the node keeper: the job gets its credential; nothing hostile runs or is read as root', async () => {
    expect(c.status().keeper).toBeDefined();
    await hostileJob();
  }, 40_000);

  test('keeper stopped (slurmstepd starts the Node helper as root): same', async () => {
    tc(['keeper-stop']);
    try {
      await hostileJob();
    } finally {
      tc(['keeper-start']);
    }
  }, 60_000);
});

describe('planted paths', () => {
  const REPORT = 'echo "CC=$KRB5CCNAME"; klist | sed -n "s/^Default principal: /PRINCIPAL=/p"';

  function jobWorks(): string {
    const r = c.as(vic.name, ['srun', '-N1', 'sh', '-c', REPORT]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^PRINCIPAL=${vic.name}@${c.realm}$`, 'm'));
    const m = new RegExp(`^CC=FILE:(/tmp/krb5cc_${vic.uid}_(\\d+)_[A-Za-z0-9]{6})$`, 'm').exec(r.stdout);
    expect(m).not.toBeNull();
    return (m as RegExpExecArray)[2] as string;
  }

  test('another user plants a symlink, hard link, FIFO or directory at the push marker: job works, nothing outside changes', () => {
    const marker = join(c.markerDir, `krb5bridge_pushed_${vic.uid}`);
    const evilDir = mkdtempSync(join(evil.home, 'plant-'));
    chownSync(evilDir, evil.uid, evil.gid);
    const target = join(evilDir, 'target');
    expect(c.as(evil.name, ['sh', '-c', `printf original > ${target}; chmod 644 ${target}`]).code).toBe(0);
    const before = statSync(target);
    const plants: Array<[string, string[], (s: import('node:fs').Stats) => boolean]> = [
      ['symlink', ['ln', '-s', target, marker], (s) => s.isSymbolicLink()],
      ['hard link', ['ln', target, marker], (s) => s.isFile() && s.nlink === 2],
      ['fifo', ['mkfifo', '-m', '0666', marker], (s) => s.isFIFO()],
      ['directory', ['mkdir', '-m', '0777', marker], (s) => s.isDirectory()],
    ];
    try {
      for (const [kind, cmd, isIt] of plants) {
        rmSync(marker, { recursive: true, force: true });
        const p = c.as(evil.name, cmd);
        expect({ kind, code: p.code, err: p.stderr }).toEqual({ kind, code: 0, err: '' });
        jobWorks();
        const st = lstatSync(marker);
        expect({ kind, still: isIt(st), uid: st.uid }).toEqual({ kind, still: true, uid: evil.uid });
        const after = statSync(target);
        expect({ kind, content: readFileSync(target, 'utf8'), mtime: after.mtimeMs, mode: after.mode, uid: after.uid })
          .toEqual({ kind, content: 'original', mtime: before.mtimeMs, mode: before.mode, uid: evil.uid });
        if (st.isDirectory()) expect(readdirSync(marker)).toEqual([]);
      }
    } finally {
      rmSync(marker, { recursive: true, force: true });
      rmSync(evilDir, { recursive: true, force: true });
    }
  }, 40_000);

  test('the user plants symlinks at guessable names of the next job\'s ccache and refresh file: none is followed', () => {
    const last = Number(jobWorks());
    const sentinel = join(X, 'sentinel');
    writeFileSync(sentinel, 'sentinel');
    chownSync(sentinel, vic.uid, vic.gid);
    const before = statSync(sentinel);
    const planted: string[] = [];
    for (let next = last + 1; next <= last + 3; next++) {
      for (const n of [`krb5cc_${vic.uid}_${next}`, `krb5cc_${vic.uid}_${next}_AAAAAA`, `krb5cc_${vic.uid}_${next}_000000`,
        `.krb5cc_${vic.uid}_${next}_AAAAAA.AAAAAAAAAA.tmp`, `krb5cc_${vic.uid}`]) {
        const p = join('/tmp', n);
        if (planted.includes(p)) continue;
        expect(c.as(vic.name, ['ln', '-sf', sentinel, p]).code).toBe(0);
        planted.push(p);
      }
    }
    try {
      const job = Number(jobWorks());
      expect(job).toBeGreaterThan(last);
      for (const p of planted) expect(lstatSync(p).isSymbolicLink()).toBe(true);
      const after = statSync(sentinel);
      expect([readFileSync(sentinel, 'utf8'), after.mtimeMs, after.size]).toEqual(['sentinel', before.mtimeMs, before.size]);
    } finally {
      for (const p of planted) rmSync(p, { force: true });
    }
  }, 30_000);

  test('the node state dir (job records) is root-only: a user cannot even look into it or plant there', () => {
    const st = lstatSync(c.nodeState);
    expect([st.uid, st.mode & 0o777]).toEqual([0, 0o700]);
    const ls = c.as(vic.name, ['ls', join(c.nodeState, 'jobs')]);
    expect(ls.code).not.toBe(0);
    expect(ls.stderr).toMatch(/Permission denied/);
    const ln = c.as(vic.name, ['ln', '-s', '/etc/passwd', join(c.nodeState, 'jobs', '999999')]);
    expect(ln.code).not.toBe(0);
    expect(ln.stderr).toMatch(/Permission denied/);
    expect(existsSync(join(c.nodeState, 'jobs', '999999'))).toBe(false);
  });
});
