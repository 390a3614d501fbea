/**
 * The whole credential path on a real cluster (MIT KDC, munged, slurmctld + slurmd with the plugin,
 * the store), driven by srun, sbatch and salloc as non-root test users.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, User, clusterForFile, waitFor } from '../lib/cluster';
import { REPORT_SCRIPT, parseReport, parseReports } from './jobreport';

let c: Cluster;
let alice: User;
let bob: User;

const cluster = clusterForFile();

beforeAll(() => {
  c = cluster.get();
  alice = c.adduser('kbalice');
  bob = c.adduser('kbbob');
  c.kinit(alice.name);
});


const ccachePattern = (u: User, job: string): RegExp => new RegExp(`^FILE:/tmp/krb5cc_${u.uid}_${job}_[A-Za-z0-9]{6}$`);
const path = (ccache: string): string => ccache.replace(/^FILE:/, '');
const TIME = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d';
/** The one line the job's first task prints: which stored ticket the job uses, and where. */
const usesLine = (u: User, ccache: string): RegExp =>
  new RegExp(`^krb5bridge: this job uses the Kerberos ticket of ${u.name}@${c.realm} held by the credential store \\(valid until ${TIME}, renewed until ${TIME}\\) in ${path(ccache)}$`);
const bridgeLines = (stderr: string): string[] => stderr.split('\n').filter((l) => l.includes('krb5bridge'));

async function expectGone(ccache: string): Promise<void> {
  await waitFor(() => !existsSync(path(ccache)), 10_000, `${ccache} to be removed after the job`);
}

test('srun: the job has the user\'s TGT in a private ccache under /tmp, and kvno works', async () => {
  const r = c.as(alice.name, ['srun', '-N1', 'sh', '-c', REPORT_SCRIPT]);
  expect(r.code).toBe(0);
  const rep = parseReport(r.stdout);
  expect(rep.ccache).toMatch(ccachePattern(alice, rep.job));
  expect(rep.stat).toBe(`${alice.name} 600 regular file 1`);
  expect(rep.principal).toBe(`${alice.name}@${c.realm}`);
  expect(rep.kvno).toBe('ok');
  // The user is told, in the job's stderr, which ticket the job uses: one line, nothing else.
  expect(bridgeLines(r.stderr)).toHaveLength(1);
  expect(bridgeLines(r.stderr)[0]).toMatch(usesLine(alice, rep.ccache));
  await expectGone(rep.ccache);
});

test('salloc + srun: every step of the allocation uses the one job ccache; it is gone after the allocation', async () => {
  const script = `srun -N1 sh -c '${REPORT_SCRIPT}'; srun -N1 sh -c '${REPORT_SCRIPT}'`;
  const r = c.as(alice.name, ['salloc', '-N1', 'sh', '-c', script]);
  expect(r.code).toBe(0);
  const reps = parseReports(r.stdout);
  expect(reps).toHaveLength(2);
  const [first, second] = reps as [ReturnType<typeof parseReport>, ReturnType<typeof parseReport>];
  expect(first.ccache).toMatch(ccachePattern(alice, first.job));
  expect(second.ccache).toBe(first.ccache);
  for (const rep of reps) {
    expect(rep.principal).toBe(`${alice.name}@${c.realm}`);
    expect(rep.kvno).toBe('ok');
  }
  await expectGone(first.ccache);
});

test('sbatch: a job that starts after kdestroy on the login node still gets the credential', async () => {
  c.kinit(alice.name);
  const out = join(alice.home, 'held.%j.out');
  const sub = c.as(alice.name, ['sbatch', '--parsable', '-H', '-o', out, '--wrap', REPORT_SCRIPT]);
  expect(sub.code).toBe(0);
  const job = sub.stdout.trim().split(';')[0] as string;
  expect(job).toMatch(/^\d+$/);
  expect(c.as(alice.name, ['kdestroy']).code).toBe(0);
  expect(c.as(alice.name, ['klist', '-s']).code).not.toBe(0);
  expect(c.as(alice.name, ['scontrol', 'release', job]).code).toBe(0);
  await c.waitJob(job);
  const rep = parseReport(readFileSync(out.replace('%j', job), 'utf8'));
  expect(rep.job).toBe(job);
  expect(rep.ccache).toMatch(ccachePattern(alice, job));
  expect(rep.stat).toBe(`${alice.name} 600 regular file 1`);
  expect(rep.principal).toBe(`${alice.name}@${c.realm}`);
  expect(rep.kvno).toBe('ok');
  await expectGone(rep.ccache);
});

test('srun after kdestroy: the job uses the ticket the store still holds, and srun says so', async () => {
  c.kinit(alice.name);
  expect(c.as(alice.name, ['srun', '-N1', 'true']).code).toBe(0);
  expect(c.as(alice.name, ['kdestroy']).code).toBe(0);
  const r = c.as(alice.name, ['srun', '-N1', 'sh', '-c', REPORT_SCRIPT]);
  expect(r.code).toBe(0);
  const lines = bridgeLines(r.stderr);
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatch(
    new RegExp(`krb5bridge: no Kerberos ticket here; the job uses the ticket of ${alice.name}@${c.realm} that the credential store already holds \\(valid until \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\)\\.$`),
  );
  const rep = parseReport(r.stdout);
  expect(lines[1]).toMatch(usesLine(alice, rep.ccache));
  expect(rep.principal).toBe(`${alice.name}@${c.realm}`);
  expect(rep.kvno).toBe('ok');
  await expectGone(rep.ccache);
});

test('two concurrent jobs of one user: ending one leaves the other\'s ccache intact; others cannot read it', async () => {
  c.kinit(alice.name);
  const submit = (tag: string): { job: string; ccFile: string } => {
    // Homes outlive clusters (and job ids restart at 1): a name of this run only.
    const ccFile = join(alice.home, `cc.${process.pid}.${Date.now()}.${tag}`);
    const r = c.as(alice.name, ['sbatch', '--parsable', '-o', '/dev/null', '--wrap', `echo "$KRB5CCNAME" > ${ccFile}; sleep 120`]);
    expect(r.code).toBe(0);
    return { job: r.stdout.trim().split(';')[0] as string, ccFile };
  };
  const a = submit('a');
  const b = submit('b');
  await waitFor(() => existsSync(a.ccFile) && existsSync(b.ccFile) && readFileSync(b.ccFile, 'utf8').trim() !== '', 20_000, 'both jobs to start');
  const ccA = readFileSync(a.ccFile, 'utf8').trim();
  const ccB = readFileSync(b.ccFile, 'utf8').trim();
  expect(ccA).toMatch(ccachePattern(alice, a.job));
  expect(ccB).toMatch(ccachePattern(alice, b.job));

  const peek = c.as(bob.name, ['cat', path(ccB)]);
  expect(peek.code).not.toBe(0);
  expect(peek.stderr).toContain('Permission denied');

  expect(c.as(alice.name, ['scancel', a.job]).code).toBe(0);
  await c.waitJob(a.job);
  await expectGone(ccA);
  expect(existsSync(path(ccB))).toBe(true);
  expect(c.as(alice.name, ['klist', '-s', '-c', ccB]).code).toBe(0);

  expect(c.as(alice.name, ['scancel', b.job]).code).toBe(0);
  await c.waitJob(b.job);
  await expectGone(ccB);
});
