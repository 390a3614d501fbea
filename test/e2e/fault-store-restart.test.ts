/**
 * Issue 8, fault 1: the store is killed (kill -9) while 20 jobs of 4 users start, and comes back
 * 5 s later. Each job is told, in its own stderr, either which stored ticket it uses or that it
 * has none yet and why; every job has a valid ccache within 30 s of the store's return; nothing
 * (lock file, record, temporary) is left on the node once the jobs end.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, User, clusterForFile, waitFor } from '../lib/cluster';
import { krb5bridgeLines, parseWait, waitScript } from './jobreport';

const JOBS_PER_USER = 5;
const cluster = clusterForFile();
let c: Cluster;
const users: User[] = [];
const tag = `${process.pid}.${Date.now()}`;

beforeAll(() => {
  c = cluster.get();
  for (let i = 0; i < 4; i++) {
    const u = c.adduser(`kbfsr${i}`);
    c.kinit(u.name);
    users.push(u);
  }
});

interface Submitted {
  user: User;
  job: string;
  out: string;
  err: string;
}

test('kill -9 of the store while 20 jobs start: every job is told, and has a valid ccache within 30 s of the store\'s return', async () => {
  // 20 held jobs (submitted while the store is up: their TGTs are stored), released at once.
  const submissions = users.flatMap((u) =>
    Array.from({ length: JOBS_PER_USER }, (_, i) => {
      const out = join(u.home, `fsr.${tag}.${i}.out`);
      const err = join(u.home, `fsr.${tag}.${i}.err`);
      return c.asAsync(u.name, ['sbatch', '--parsable', '--oversubscribe', '-H', '-o', out, '-e', err, '--wrap', waitScript(120)]).then(
        (r): Submitted => {
          if (r.code !== 0) throw new Error(`sbatch as ${u.name} failed: ${r.stderr}`);
          return { user: u, job: r.stdout.trim().split(';')[0] ?? '', out, err };
        },
      );
    }),
  );
  const jobs = await Promise.all(submissions);
  expect(jobs).toHaveLength(20);

  // Released in two waves: the store dies (SIGKILL, at once) as soon as the keeper has answered the
  // first job of wave 1, in the middle of the others' requests (Slurm starts a wave within about
  // 100 ms); wave 2 is released while it is down. However the race goes on a loaded machine, at
  // least 10 jobs start without a store.
  const wave1 = jobs.filter((_, i) => i % 2 === 0);
  const wave2 = jobs.filter((_, i) => i % 2 === 1);
  const storePid = c.status().store;
  if (storePid === undefined) throw new Error('the store does not run');
  const keeperLog = join(c.dir, 'log', 'keeper.log');
  const answered = (): boolean => readFileSync(keeperLog, 'utf8').includes(' materialise ');
  expect(c.root(['scontrol', 'release', wave1.map((j) => j.job).join(',')]).stderr).toBe('');
  await waitFor(answered, 30_000, 'the first job start', 2);
  process.kill(storePid, 'SIGKILL');
  c.storeStop('KILL'); // the pid file
  expect(c.root(['scontrol', 'release', wave2.map((j) => j.job).join(',')]).stderr).toBe('');
  // (A job that got its ticket before the kill is done at once: count the starts, not squeue.)
  const started = (j: Submitted): boolean => existsSync(j.out) && /^CC=/m.test(readFileSync(j.out, 'utf8'));
  await waitFor(() => jobs.every(started), 60_000, 'all 20 jobs to start');
  await new Promise((r) => setTimeout(r, 5_000));
  c.storeStart();
  const back = Date.now();

  for (const j of jobs) await c.waitJob(j.job, 150_000);
  const times: number[] = [];
  const told = { ticket: 0, pending: 0 };
  const codes: Record<string, number> = {};
  for (const j of jobs) {
    const report = parseWait(readFileSync(j.out, 'utf8'));
    expect({ job: j.job, report }).toEqual({ job: j.job, report: expect.objectContaining({ valid: true, ccache: expect.stringMatching(new RegExp(`^FILE:/tmp/krb5cc_${j.user.uid}_${j.job}_[A-Za-z0-9]{6}$`)) }) });
    times.push(Math.max(0, (report?.at ?? NaN) - back));
    // Told once, at task start: the ticket it uses, or none yet and why (the store was down or
    // died mid-request). Never a protocol error, never the submit host's ccache.
    const lines = krb5bridgeLines(readFileSync(j.err, 'utf8'));
    expect(lines).toHaveLength(1);
    const line = lines[0] ?? '';
    const path = (report?.ccache ?? '').replace(/^FILE:/, '');
    if (line.startsWith('krb5bridge: this job uses')) {
      told.ticket++;
      expect(line).toMatch(new RegExp(`^krb5bridge: this job uses the Kerberos ticket of ${j.user.name}@${c.realm} held by the credential store \\(valid until [-0-9: ]+, renewed until [-0-9: ]+\\) in ${path}$`));
    } else {
      told.pending++;
      const code = /\((E_[A-Z_]+)/.exec(line)?.[1] ?? '?';
      codes[code] = (codes[code] ?? 0) + 1;
      expect(line).toMatch(
        new RegExp(
          '^krb5bridge: no Kerberos ticket for this job yet \\((?:E_STORE_UNREACHABLE: cannot connect to 127\\.0\\.0\\.1:\\d+: ECONNREFUSED|' +
            'E_STORE_CLOSED: (?:the connection to 127\\.0\\.0\\.1:\\d+ broke before the answer: ECONNRESET|store 127\\.0\\.0\\.1:\\d+ closed the connection without answering \\(restarting\\? see the store\'s log\\)))\\); ' +
            `it is written to ${path} \\(KRB5CCNAME\\) as soon as it can be had$`,
        ),
      );
    }
  }
  // At least the jobs that started after the kill (wave 2) had to wait for the store.
  expect(told.pending).toBeGreaterThanOrEqual(wave2.length);
  const worst = Math.max(...times);
  console.log(`store restart: ${told.ticket} jobs got their ticket before the kill, ${told.pending} waited (${JSON.stringify(codes)}); all 20 valid ${(worst / 1000).toFixed(1)} s after the store's return (median ${((times.sort((a, b) => a - b)[10] ?? 0) / 1000).toFixed(1)} s)`);
  expect(worst).toBeLessThanOrEqual(30_000);

  // Nothing left on the node: no record, no lock file, no temporary (the epilog and the sweep).
  await waitFor(() => readdirSync(join(c.nodeState, 'jobs')).length === 0, 30_000, 'the node\'s job directory to be empty').catch(() => undefined);
  expect(readdirSync(join(c.nodeState, 'jobs'))).toEqual([]);
  expect(readdirSync('/tmp').filter((n) => users.some((u) => n.startsWith(`krb5cc_${u.uid}_`)))).toEqual([]);
}, 300_000);
