/**
 * Job-bound fetch logic: hostlist expansion, every refusal, and the per-job cache (5,000
 * concurrent node fetches of one job cost one slurm_load_job). slurmctld's answers are given as
 * libslurm's rows (the real slurmctld is exercised in e2e/policy and e2e/multinode).
 */
import { expandHostlist } from '../../../helper/src/slurm/hostlist';
import { Krb5BridgeError } from '../../../helper/src/errors';
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

type Job = { user_id: number; state: string; nodes: string } | 'unreachable';
const NODES = [
  { name: 'n1', addr: '10.0.0.1', hostname: 'n1' },
  { name: 'n2', addr: '10.0.0.2', hostname: 'n2' },
  { name: 'n3', addr: '10.0.0.3', hostname: 'n3' },
  { name: 'n1', addr: '10.0.0.1', hostname: 'n1' },
];
/** slurmctld as libslurm answers (slurm/slurmctld.ts); the real one is exercised in e2e/policy and e2e/multinode. */
function checker(jobs: Record<string, Job>, nodes = NODES) {
  const calls: string[] = [];
  const c = new JobChecker({}, {
    async job(id) {
      calls.push(`job ${id}`);
      await new Promise((r) => setTimeout(r, 5));
      const j = jobs[id];
      if (j === 'unreachable') throw new Krb5BridgeError('E_SLURMCTLD_UNREACHABLE', `slurm_load_job(${id}): Unable to contact slurm controller (connect failure)`);
      return j && { job_id: Number(id), ...j };
    },
    async nodes() {
      calls.push('nodes');
      await new Promise((r) => setTimeout(r, 5));
      return nodes;
    },
  });
  return { c, calls };
}

const running = { user_id: 1001, state: 'RUNNING', nodes: 'n[1-2]' };

test('the node of a running job of the uid passes; one job question and one node table', async () => {
  const { c, calls } = checker({ '42': running });
  expect(await c.check(1001, '42', { addr: '10.0.0.2' })).toBe('n2');
  expect(await c.check(1001, '42', { addr: '::ffff:10.0.0.1' })).toBe('n1');
  expect(calls).toEqual(['job 42', 'nodes']);
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
  const { c } = checker({ '5': { user_id: 1001, state: 'PENDING', nodes: '' }, '6': { user_id: 1001, state: 'COMPLETED', nodes: 'n1' }, '9': 'unreachable' });
  await expect(c.check(1001, '5', { addr: '10.0.0.1' })).rejects.toMatchObject({ code: 'E_NO_JOB', message: expect.stringContaining('job 5 is PENDING, not starting or running') });
  await expect(c.check(1001, '6', { addr: '10.0.0.1' })).rejects.toMatchObject({ code: 'E_NO_JOB' });
  await expect(c.check(1001, '9', { addr: '10.0.0.1' })).rejects.toMatchObject({ code: 'E_SLURMCTLD_UNREACHABLE', message: expect.stringContaining('Unable to contact slurm controller') });
});

test('Kerberos host principal: the authenticated host name identifies the node', async () => {
  const { c } = checker({ '42': running });
  expect(await c.check(1001, '42', { hostName: 'N2', addr: '203.0.113.9' })).toBe('n2');
});

test('a 5,000-node job start costs one job question and one node table', async () => {
  const names = Array.from({ length: 5000 }, (_, i) => `c${i + 1}`);
  const nodes = names.map((n, i) => ({ name: n, addr: `10.${(i >> 8) & 255}.${i & 255}.1`, hostname: n }));
  const { c, calls } = checker({ '77': { user_id: 1001, state: 'RUNNING', nodes: 'c[1-5000]' } }, nodes);
  const got = await Promise.all(names.map((_, i) => c.check(1001, '77', { addr: `10.${(i >> 8) & 255}.${i & 255}.1` })));
  expect(got).toEqual(names);
  expect(calls).toHaveLength(2);
});
