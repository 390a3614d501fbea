/**
 * What happens when things go wrong, on a real cluster: someone else's ticket, no ticket, the store
 * down or hung. Each case asserts the exact refusal the user sees and that the node is not drained.
 */
import { copyFileSync, chownSync, rmSync } from 'node:fs';
import { Cluster, User, clusterForFile } from '../lib/cluster';

let c: Cluster;
let alice: User;
let bob: User;
let carol: User;

const cluster = clusterForFile();

beforeAll(() => {
  c = cluster.get();
  alice = c.adduser('kbalice');
  bob = c.adduser('kbbob');
  carol = c.adduser('kbcarol');
  c.kinit(alice.name);
});


afterEach(() => c.plugstack());

/** srun exports the login environment: with --krb5=no the job keeps the login KRB5CCNAME, as asked. */
const noJobCcache = (stdout: string, u: User): void => {
  expect(stdout).toContain(`RAN KRB5CCNAME=${u.ccache}`);
  expect(stdout).not.toContain('/tmp/krb5cc_');
};

/**
 * Without a credential now, the job still never keeps the login KRB5CCNAME: it names the job's own
 * path on the node, reserved (nothing there yet) for the keeper to fill if the user pushes a ticket.
 */
const pendingJobCcache = (stdout: string, u: User): string => {
  const m = new RegExp(`RAN KRB5CCNAME=FILE:(/tmp/krb5cc_${u.uid}_\\d+_[A-Za-z0-9]{6})$`, 'm').exec(stdout);
  expect({ stdout, named: m !== null }).toEqual({ stdout, named: true });
  expect(stdout).not.toContain(u.ccache);
  return m![1]!;
};

/** Lines of stderr that come from krb5bridge. */
const bridgeLines = (stderr: string): string[] => stderr.split('\n').filter((l) => l.includes('krb5bridge'));

test('a user cannot push another user\'s ticket, even with a copy of its ccache', () => {
  expect(c.as(alice.name, [...c.helper, 'push', '--no-marker']).code).toBe(0);
  const before = c.root([...c.helper, 'show', '--uid', String(alice.uid), '--json', '--config', c.bridgeConfig]);
  expect(before.code).toBe(0);

  const copy = `/tmp/kbtest-stolen-${process.pid}`;
  copyFileSync(alice.ccache.replace(/^FILE:/, ''), copy);
  chownSync(copy, bob.uid, bob.gid);
  try {
    const r = c.as(bob.name, [...c.helper, 'push', '--ccache', `FILE:${copy}`]);
    expect(r.code).toBe(30);
    expect(r.stderr).toMatch(new RegExp(`^krb5bridge: E_PRINCIPAL_MISMATCH: .*${alice.name}@${c.realm}`, 'm'));
    expect(bridgeLines(r.stderr)).toHaveLength(1);
  } finally {
    rmSync(copy, { force: true });
  }
  // Nothing stored for bob, alice's credential unchanged.
  const bobShow = c.root([...c.helper, 'show', '--uid', String(bob.uid), '--json', '--config', c.bridgeConfig]);
  expect(bobShow.code).toBe(33);
  const after = c.root([...c.helper, 'show', '--uid', String(alice.uid), '--json', '--config', c.bridgeConfig]);
  expect(after.stdout).toBe(before.stdout);
});

test('a user cannot fetch credentials from the store: only root may', () => {
  const r = c.as(bob.name, [...c.helper, 'show', '--uid', String(alice.uid)]);
  expect(r.code).toBe(32);
  expect(r.stderr).toMatch(/^krb5bridge: E_PERMISSION: /m);
});

test('no ticket, default policy: one clear warning and the job runs without credentials (its own empty path)', () => {
  const r = c.as(carol.name, ['srun', '-N1', 'sh', '-c', 'echo "RAN KRB5CCNAME=${KRB5CCNAME:-unset}"; ls "${KRB5CCNAME#FILE:}" 2>&1 | sed "s/^/LS /"']);
  expect(r.code).toBe(0);
  const path = pendingJobCcache(r.stdout, carol);
  expect(r.stdout).toContain(`LS ls: cannot access '${path}': No such file or directory`);
  // Said once, at submission; mode auto does not say it again at task start.
  expect(bridgeLines(r.stderr)).toEqual(['krb5bridge: no Kerberos ticket found; run kinit, then submit again. The job runs without Kerberos credentials.']);
});

test('no ticket, policy=fail: the submission is refused cleanly and nothing runs', () => {
  c.plugstack({ pluginArgs: ['policy=fail'] });
  const r = c.as(carol.name, ['srun', '-N1', 'echo', 'RAN']);
  expect(r.code).not.toBe(0);
  expect(r.stdout).not.toContain('RAN');
  expect(bridgeLines(r.stderr).join('\n')).toMatch(/no Kerberos ticket found; run kinit/);
  const sb = c.as(carol.name, ['sbatch', '--wrap', 'true']);
  expect(sb.code).not.toBe(0);
  expect(sb.stdout).not.toMatch(/Submitted batch job/);
  expect(c.slurmNodeState()).toBe('idle');
});

test('--krb5=no: nothing is pushed or materialised, no message', () => {
  const r = c.as(carol.name, ['srun', '--krb5=no', '-N1', 'sh', '-c', 'echo "RAN KRB5CCNAME=${KRB5CCNAME:-unset}"']);
  expect(r.code).toBe(0);
  noJobCcache(r.stdout, carol);
  expect(bridgeLines(r.stderr)).toEqual([]);
});

describe('store unavailable', () => {
  afterEach(() => {
    const pid = c.status().store;
    if (pid !== undefined) process.kill(pid, 'SIGCONT');
    else c.storeStart();
  });

  test('store stopped: srun says so at submission and at task start, names the store, and the job runs', () => {
    c.storeStop();
    c.kinit(alice.name); // a new ticket, so the push cannot be skipped
    const r = c.as(alice.name, ['srun', '-N1', 'echo', 'RAN']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('RAN');
    const lines = bridgeLines(r.stderr);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^krb5bridge: cannot reach the credential store; .*cannot connect to 127\.0\.0\.1:\d+: ECONNREFUSED\. The job runs without Kerberos credentials\.$/);
    expect(lines[1]).toMatch(
      new RegExp(`^krb5bridge: no Kerberos ticket for this job yet \\(E_STORE_UNREACHABLE: cannot connect to 127\\.0\\.0\\.1:\\d+: ECONNREFUSED\\); it is written to /tmp/krb5cc_${alice.uid}_\\d+_[A-Za-z0-9]{6} \\(KRB5CCNAME\\) as soon as it can be had$`),
    );
  });

  test('store hung: srun gives up within the configured timeout and follows policy=fail', () => {
    c.plugstack({ pluginArgs: ['timeout=2', 'policy=fail'] });
    const pid = c.status().store;
    expect(pid).toBeDefined();
    // Baseline, measured now: the same srun without credentials (--krb5=no: the plugin does nothing).
    let t0 = Date.now();
    expect(c.as(alice.name, ['srun', '--krb5=no', '-N1', 'echo', 'RAN']).code).toBe(0);
    const baseline = Date.now() - t0;
    process.kill(pid as number, 'SIGSTOP');
    c.kinit(alice.name);
    t0 = Date.now();
    const r = c.as(alice.name, ['srun', '-N1', 'echo', 'RAN']);
    const elapsed = Date.now() - t0;
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toContain('RAN');
    expect(bridgeLines(r.stderr).join('\n')).toMatch(/did not answer/);
    // The hung store costs the configured 2 s (plus starting the helper), not the default 10 s: the
    // extra time over the baseline stays under twice the configured timeout.
    expect(elapsed - baseline).toBeLessThan(2 * 2_000);
  });
});
