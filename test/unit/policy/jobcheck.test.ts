/**
 * Job-bound fetch logic: hostlist expansion, the squeue/sinfo parsing and every refusal, and the
 * per-job cache (5,000 concurrent node fetches of one job cost one squeue). The commands' output
 * here is the exact format Slurm 22.05 prints (the real slurmctld is exercised in e2e/policy).
 */
import { expandHostlist } from '../../../helper/src/slurm/hostlist';
import { JobChecker } from '../../../helper/src/policy/jobcheck';

describe('hostlist', () => {
  test.each([
    ['localhost', ['localhost']],
    ['node[01-03,7],gpu1', ['node01', 'node02', 'node03', 'node7', 'gpu1']],
    ['r[1-2]n[1-2]', ['r1n1', 'r1n2', 'r2n1', 'r2n2']],
    ['a[8-10]-ib', ['a8-ib', 'a9-ib', 'a10-ib']],
  ])('%s', (expr, names) => expect(expandHostlist(expr)).toEqual(names));

  test('bad or huge expressions are E_JOB_CHECK', () => {
    expect(() => expandHostlist('n[1-')).toThrow(expect.objectContaining({ code: 'E_JOB_CHECK' }));
    expect(() => expandHostlist('n[x]')).toThrow(/is not a number or range/);
    expect(() => expandHostlist('n[1-100000]', 1000)).toThrow(/more than 1000 names/);
  });
});

type Out = { stdout: string; stderr: string; code: number };
function checker(jobs: Record<string, Out>, nodes = 'n1|10.0.0.1|n1\nn2|10.0.0.2|n2\nn3|10.0.0.3|n3\nn1|10.0.0.1|n1\n') {
  const calls: string[] = [];
  const c = new JobChecker({}, async (cmd, args) => {
    calls.push(`${cmd} ${args.join(' ')}`);
    await new Promise((r) => setTimeout(r, 5));
    if (cmd === 'sinfo') return { stdout: nodes, stderr: '', code: 0 };
    return jobs[args[2]!] ?? { stdout: '', stderr: 'slurm_load_jobs error: Invalid job id specified\n', code: 1 };
  });
  return { c, calls };
}

const running = { stdout: '42|1001|RUNNING|n[1-2]\n', stderr: '', code: 0 };

test('the node of a running job of the uid passes; squeue is asked with user-proof fields only', async () => {
  const { c, calls } = checker({ '42': running });
  expect(await c.check(1001, '42', { addr: '10.0.0.2' })).toBe('n2');
  expect(await c.check(1001, '42', { addr: '::ffff:10.0.0.1' })).toBe('n1');
  expect(calls).toEqual(['squeue --noheader --jobs 42 --format %A|%U|%T|%N', 'sinfo --noheader --Node --format %N|%o|%n']);
});

test.each([
  ['no job named', 1001, undefined, '10.0.0.1', 'the fetch names no job'],
  ['unknown job', 1001, '7', '10.0.0.1', 'job 7 is not known to slurmctld'],
  ["another user's job", 1002, '42', '10.0.0.1', 'job 42 belongs to uid 1001, not uid 1002'],
  ['a node of the cluster not in the job', 1001, '42', '10.0.0.3', 'job 42 of uid 1001 does not run on n3'],
  ['a host that is no node', 1001, '42', '192.0.2.1', 'the asking host 192.0.2.1 is not a node of this cluster'],
])('%s: E_NO_JOB', async (_n, uid, job, addr, msg) => {
  const { c } = checker({ '42': running });
  await expect(c.check(uid, job, { addr })).rejects.toMatchObject({ code: 'E_NO_JOB', message: expect.stringContaining(msg) });
});

test('a pending or finished job is refused; slurmctld down is E_SLURMCTLD_UNREACHABLE', async () => {
  const { c } = checker({ '5': { stdout: '5|1001|PENDING|\n', stderr: '', code: 0 }, '6': { stdout: '6|1001|COMPLETED|n1\n', stderr: '', code: 0 }, '9': { stdout: '', stderr: 'slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n', code: 1 } });
  await expect(c.check(1001, '5', { addr: '10.0.0.1' })).rejects.toMatchObject({ code: 'E_NO_JOB', message: expect.stringContaining('job 5 is PENDING, not starting or running') });
  await expect(c.check(1001, '6', { addr: '10.0.0.1' })).rejects.toMatchObject({ code: 'E_NO_JOB' });
  await expect(c.check(1001, '9', { addr: '10.0.0.1' })).rejects.toMatchObject({ code: 'E_SLURMCTLD_UNREACHABLE', message: expect.stringContaining('Unable to contact slurm controller') });
});

test('Kerberos host principal: the authenticated host name identifies the node', async () => {
  const { c } = checker({ '42': running });
  expect(await c.check(1001, '42', { hostName: 'N2', addr: '203.0.113.9' })).toBe('n2');
});

test('a 5,000-node job start costs one squeue and one sinfo', async () => {
  const names = Array.from({ length: 5000 }, (_, i) => `c${i + 1}`);
  const nodes = names.map((n, i) => `${n}|10.${(i >> 8) & 255}.${i & 255}.1|${n}`).join('\n');
  const { c, calls } = checker({ '77': { stdout: '77|1001|RUNNING|c[1-5000]\n', stderr: '', code: 0 } }, nodes);
  const got = await Promise.all(names.map((_, i) => c.check(1001, '77', { addr: `10.${(i >> 8) & 255}.${i & 255}.1` })));
  expect(got).toEqual(names);
  expect(calls).toHaveLength(2);
});
