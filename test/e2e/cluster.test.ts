/**
 * The throwaway cluster itself, with the plugin OFF: if these fail, every other e2e result is noise.
 * Real KDC, real munged, real slurmctld/slurmd; the test user is a real unix user.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { Cluster, isRoot, pidAlive, up } from '../lib/cluster';

const maybe = isRoot() ? describe : describe.skip;
const USER = 'tcuser1';

maybe('test cluster (plugin off)', () => {
  let c: Cluster;
  let pids: Record<string, number | undefined> = {};

  beforeAll(() => {
    c = up({ plugin: false, store: false });
    c.adduser(USER);
  });

  afterAll(() => {
    if (c) c.down({ rm: true });
  });

  test('daemons run and the directory is laid out for non-root readers', () => {
    pids = c.status();
    for (const d of ['kdc', 'munged', 'slurmctld', 'slurmd']) expect(pids[d]).toBeGreaterThan(1);
    expect(statSync(c.dir).mode & 0o777).toBe(0o755);
    expect(statSync(path.join(c.dir, 'kdc')).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(c.dir, 'munge')).mode & 0o777).toBe(0o700);
    expect(statSync(c.nodeState).mode & 0o777).toBe(0o700);
    expect(statSync(c.markerDir).mode & 0o7777).toBe(0o1777);
    expect(readFileSync(path.join(c.dir, 'plugstack.conf'), 'utf8')).toBe('');
    expect(c.realm).toMatch(/^TC[A-Z0-9]+\.TEST$/);
    expect(readFileSync(c.bridgeConfig, 'utf8')).toContain(`munge_socket = ${c.mungeSocket}`);
  });

  test('a test user kinits from its keytab and gets a renewable TGT and a host/localhost ticket', () => {
    const kt = statSync(path.join(c.dir, 'keytabs', `${USER}.keytab`));
    expect(kt.mode & 0o777).toBe(0o600);
    c.kinit(USER);
    const r = c.as(USER, ['sh', '-c', 'klist -f && kvno host/localhost']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Default principal: ${USER}@${c.realm}`);
    const flags = /krbtgt\/[^\n]*\n\s*renew until [^\n]*Flags: (\S+)/.exec(r.stdout)?.[1] ?? '';
    for (const f of ['F', 'R', 'I']) expect(flags).toContain(f);
    expect(r.stdout).toContain('renew until');
    expect(r.stdout).toContain(`host/localhost@${c.realm}: kvno = `);
  });

  test('srun -N1 hostname runs as the test user', () => {
    const r = c.as(USER, ['srun', '-N1', 'sh', '-c', 'hostname && id -un']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe(USER);
  });

  test('an sbatch job runs and finishes (polled with squeue)', async () => {
    const r = c.as(USER, ['sbatch', '--parsable', '-o', 'job-%j.out', '--wrap', 'id -un; echo done-$SLURM_JOB_ID']);
    expect(r.code).toBe(0);
    const jobid = r.stdout.trim();
    expect(jobid).toMatch(/^\d+$/);
    await c.waitJob(jobid, 30_000);
    const out = readFileSync(path.join(c.dir, 'users', USER, `job-${jobid}.out`), 'utf8');
    expect(out).toBe(`${USER}\ndone-${jobid}\n`);
    expect(c.squeueEmpty()).toBe(true);
    expect(c.slurmNodeState()).toBe('idle');
  });

  test('down stops every daemon it started and is safe to run twice', () => {
    pids = c.status();
    const started = Object.values(pids).filter((p): p is number => p !== undefined);
    expect(started).toHaveLength(4);
    const t0 = Date.now();
    c.down();
    // A generous bound, not a speed test: down's own waits add up to under 1 s (TERM, 0.6 s, then
    // KILL), and it must not hang on a daemon that ignores TERM. A loaded 2-core machine took 3.3 s.
    expect(Date.now() - t0).toBeLessThan(20_000);
    for (const p of started) expect(pidAlive(p)).toBe(false);
    expect(Object.values(c.status()).every((p) => p === undefined)).toBe(true);
    c.down();
    expect(existsSync(c.dir)).toBe(true);
  });
});

maybe('test cluster --only kdc,munge', () => {
  test('brings up only the KDC and munged; a test user can munge/unmunge and kinit', () => {
    const c = up({ only: 'kdc,munge' });
    try {
      const st = c.status();
      expect(st.kdc).toBeGreaterThan(1);
      expect(st.munged).toBeGreaterThan(1);
      expect(st.slurmctld).toBeUndefined();
      expect(st.store).toBeUndefined();
      c.adduser(USER);
      c.kinit(USER);
      const r = c.as(USER, ['sh', '-c', `munge -n -S ${c.mungeSocket} | unmunge -S ${c.mungeSocket} && klist`]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^UID:\\s+${USER} \\(`, 'm'));
      expect(r.stdout).toContain(`Default principal: ${USER}@${c.realm}`);
    } finally {
      c.down({ rm: true });
    }
    expect(existsSync(c.dir)).toBe(false);
  });
});

maybe('test cluster users', () => {
  const exists = (name: string): boolean => spawnSync('id', ['-u', name]).status === 0;
  const fresh = (prefix: string): string => `${prefix}${Math.random().toString(36).slice(2, 8).replace(/[^a-z]/g, 'x')}`;

  test('down removes the users it added (and their homes) once no other live cluster uses them', () => {
    const name = fresh('tcgone');
    const a = up({ only: 'kdc' });
    const b = up({ only: 'kdc' });
    try {
      const home = a.adduser(name).home;
      b.adduser(name);
      expect(existsSync(home)).toBe(true);
      a.down({ rm: true });
      expect(exists(name)).toBe(true); // cluster b still uses it
      b.down({ rm: true });
      expect(exists(name)).toBe(false);
      expect(existsSync(home)).toBe(false);
    } finally {
      a.down({ rm: true });
      b.down({ rm: true });
      if (exists(name)) spawnSync('userdel', ['-r', name]);
    }
  });

  test('down never removes a user it did not create', () => {
    const name = fresh('tckeep');
    expect(spawnSync('useradd', ['-m', '-K', 'UID_MIN=1000', name]).status).toBe(0);
    try {
      const c = up({ only: 'kdc' });
      c.adduser(name);
      c.down({ rm: true });
      expect(exists(name)).toBe(true);
    } finally {
      spawnSync('userdel', ['-r', name]);
    }
  });
});
