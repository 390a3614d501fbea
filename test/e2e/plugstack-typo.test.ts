/**
 * A typo in krb5bridge's settings never drains a node (issue 8). What a site actually hits is a
 * plugstack.conf (or config file) that is fine where srun/sbatch read it and broken where slurmstepd
 * reads it: compute nodes with their own copy. On this one-node cluster both sides read one
 * plugstack.conf, and every srun, sbatch and step re-reads it, so the test submits a held job with
 * good settings, breaks them, then releases the job: its batch step and epilog on the node read the
 * broken settings. On the submit side the same typo still refuses the submission, with the message.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, User, clusterForFile, waitFor } from '../lib/cluster';

let c: Cluster;
let alice: User;

const cluster = clusterForFile();

beforeAll(() => {
  c = cluster.get();
  alice = c.adduser('kbalice');
  c.kinit(alice.name);
});

afterEach(() => c.plugstack());

const TIMEOUT_ABC = 'bad value for plugstack.conf argument timeout: "abc" (expected whole seconds from 1 to 3600)';
const PATH_WANT = '(expected an absolute path without "/../", shorter than 1024 bytes)';

/** A copy of the cluster's config file whose ccache_dir is relative: line `line` of the copy. */
function brokenConfig(): { file: string; line: number } {
  const file = join(c.dir, `broken.${process.pid}.conf`);
  const lines = readFileSync(c.bridgeConfig, 'utf8').split('\n');
  const line = lines.findIndex((l) => /^ccache_dir\s*=/.test(l)) + 1;
  expect(line).toBeGreaterThan(0);
  lines[line - 1] = 'ccache_dir = tmp';
  writeFileSync(file, lines.join('\n'), { mode: 0o644 });
  return { file, line };
}

/** What the job's user reads at task start when the node's settings are broken. */
const told = (err: string): string =>
  `krb5bridge: the krb5bridge settings of this node are broken (${err}): this job has no Kerberos credentials from krb5bridge (KRB5CCNAME is unset). Tell the site's administrators.`;

/** slurmd's log lines (slurmstepd's and the epilog's included) that come from krb5bridge. */
const nodeLog = (): string[] => readFileSync(join(c.dir, 'log', 'slurmd.log'), 'utf8').split('\n').filter((l) => l.includes('krb5bridge'));

/**
 * Submit a held batch job with the good settings, apply `breakIt` (what only the node then reads),
 * release the job, wait for it. Returns the job id and its output.
 */
async function heldJobWithBrokenNode(breakIt: () => void): Promise<{ job: string; output: string }> {
  const out = join(alice.home, `typo.${process.pid}.%j.out`);
  const sub = c.as(alice.name, ['sbatch', '--parsable', '-H', '-o', out, '--wrap', 'echo "RAN KRB5CCNAME=${KRB5CCNAME:-unset}"']);
  expect({ code: sub.code, stderr: sub.stderr }).toEqual({ code: 0, stderr: '' });
  const job = sub.stdout.trim().split(';')[0] as string;
  expect(job).toMatch(/^\d+$/);
  breakIt();
  expect(c.as(alice.name, ['scontrol', 'release', job]).code).toBe(0);
  await c.waitJob(job);
  // The epilog runs after the job leaves squeue's running states: wait for the node to settle.
  await waitFor(() => !/(completing|allocated|mixed)/.test(c.slurmNodeState()), 30_000, 'the node to finish the job');
  const file = out.replace('%j', job);
  const output = readFileSync(file, 'utf8');
  rmSync(file, { force: true });
  return { job, output };
}

test('a plugstack.conf typo only the node reads: the job runs, the node stays idle, slurmd logs what to fix', async () => {
  const { job, output } = await heldJobWithBrokenNode(() => c.plugstack({ pluginArgs: ['timeout=abc'] }));
  // No job ccache, and not the submitter's KRB5CCNAME either; the job's user is told why.
  expect(output).toBe(`${told(TIMEOUT_ABC)}\nRAN KRB5CCNAME=unset\n`);
  expect(c.slurmNodeState()).toBe('idle');
  const lines = nodeLog();
  expect(lines.filter((l) => l.includes(`job ${job} `)).map((l) => l.replace(/^\[[^\]]+\] /, ''))).toEqual([
    `[${job}.batch] error: krb5bridge: ${TIMEOUT_ABC}. krb5bridge does nothing for job ${job} on this node until that is fixed: the job runs without Kerberos credentials from krb5bridge; the node stays up.`,
    `error: krb5bridge: ${TIMEOUT_ABC}. krb5bridge does nothing for job ${job} on this node until that is fixed: its credential cache, if any, is not destroyed; the node stays up.`,
  ]);
});

test('a config file typo only the node reads: the job runs, the node stays idle, slurmd logs FILE:LINE', async () => {
  const bad = brokenConfig();
  try {
    const { job, output } = await heldJobWithBrokenNode(() => c.plugstack({ pluginArgs: [`config=${bad.file}`] }));
    const err = `${bad.file}:${bad.line}: bad value for ccache_dir: "tmp" ${PATH_WANT}`;
    expect(output).toBe(`${told(err)}\nRAN KRB5CCNAME=unset\n`);
    expect(c.slurmNodeState()).toBe('idle');
    expect(nodeLog().filter((l) => l.includes(`job ${job} `)).map((l) => l.replace(/^\[[^\]]+\] /, ''))).toEqual([
      `[${job}.batch] error: krb5bridge: ${err}. krb5bridge does nothing for job ${job} on this node until that is fixed: the job runs without Kerberos credentials from krb5bridge; the node stays up.`,
      `error: krb5bridge: ${err}. krb5bridge does nothing for job ${job} on this node until that is fixed: its credential cache, if any, is not destroyed; the node stays up.`,
    ]);
  } finally {
    rmSync(bad.file, { force: true });
  }
});

describe('on the submit side a typo is still refused, with what to fix', () => {
  const refused = (tool: string, err: string): string =>
    [
      `${tool}: error: krb5bridge: ${err}. The job is not submitted: that setting must be fixed first (tell the site's administrators).`,
      `${tool}: error: spank: required plugin krb5bridge.so: init() failed with rc=-1`,
      `${tool}: error: ${tool === 'srun' ? 'Plug-in initialization failed' : 'Failed to initialize plugin stack'}`,
      '',
    ].join('\n');

  test('plugstack.conf typo: sbatch, srun and salloc refuse; nothing is queued', () => {
    c.plugstack({ pluginArgs: ['timeout=abc'] });
    for (const cmd of [['sbatch', '--wrap', 'echo RAN'], ['srun', '-N1', 'echo', 'RAN'], ['salloc', '-N1', 'echo', 'RAN']]) {
      const tool = cmd[0] as string;
      const r = c.as(alice.name, cmd);
      expect({ tool, code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ tool, code: 1, stdout: '', stderr: refused(tool, TIMEOUT_ABC) });
    }
    expect(c.squeueEmpty()).toBe(true);
    expect(c.slurmNodeState()).toBe('idle');
  });

  test('config file typo: sbatch refuses naming the file and line', () => {
    const bad = brokenConfig();
    try {
      c.plugstack({ pluginArgs: [`config=${bad.file}`] });
      const r = c.as(alice.name, ['sbatch', '--wrap', 'echo RAN']);
      expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
        code: 1,
        stdout: '',
        stderr: refused('sbatch', `${bad.file}:${bad.line}: bad value for ccache_dir: "tmp" ${PATH_WANT}`),
      });
      expect(c.squeueEmpty()).toBe(true);
    } finally {
      rmSync(bad.file, { force: true });
    }
  });
});
