/**
 * Faults of the store on etcd, for real (scripts/testcluster up --etcd 3 --stores 2: Debian's
 * etcd-server with three members on loopback, two `krb5bridge serve` sharing it, clients and the
 * plugin given both stores; real jobs, 1-minute tickets so the stores renew within the file):
 *   - one etcd member (the raft leader) killed -9 during a push and fetch storm;
 *   - one store killed -9 while jobs start;
 *   - 2 of the 3 members down, then back;
 *   - the renewing store killed -9: the other takes over, the KDC sees no double renewal.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StoreSession, fetchCreds } from '../../helper/src/client/client';
import { loadConfig } from '../../helper/src/config/config';
import { isKrb5BridgeError } from '../../helper/src/errors';
import { Cluster, TESTCLUSTER, User, clusterForFile, waitFor } from '../lib/cluster';

const cluster = clusterForFile({ etcd: 3, stores: 2, ticketLifetime: '1m', renewLifetime: '10m' });
let c: Cluster;
const users: User[] = [];

const log = (name: string): string => readFileSync(join(c.dir, 'log', name), 'utf8');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The member the others follow now (1-based), from `etcdctl endpoint status`. */
function etcdLeader(): number {
  const status = JSON.parse(c.root(['env', 'ETCDCTL_API=3', 'etcdctl', '--endpoints', c.env.TC_ETCD_ENDPOINTS!, 'endpoint', 'status', '-w', 'json']).stdout) as { Endpoint: string; Status: { header: { member_id: number }; leader: number } }[];
  const i = status.findIndex((s) => s.Status.leader === s.Status.header.member_id);
  return i + 1;
}

/** Run a command as user u without blocking this process; resolves with its status and output. */
function asAsync(u: User, cmd: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(TESTCLUSTER, ['as', u.name, '--dir', c.dir, '--', ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code: code ?? 128, stdout, stderr }));
  });
}

/** A job of u that runs `seconds` on the node (its credential is then job-bound fetchable). */
async function runningJob(u: User, seconds: number): Promise<string> {
  const r = c.as(u.name, ['sbatch', '--parsable', '--oversubscribe', '-o', '/dev/null', '--wrap', `sleep ${seconds}`]);
  expect(r.code).toBe(0);
  const job = r.stdout.trim();
  await waitFor(() => c.root(['squeue', '-h', '-j', job, '-o', '%T']).stdout.trim() === 'RUNNING', 20_000, `job ${job} to run`);
  return job;
}

beforeAll(() => {
  c = cluster.get();
  for (let i = 0; i < 3; i++) {
    const u = c.adduser(`kbetcd${i}`);
    c.kinit(u.name);
    users.push(u);
  }
});

test('the raft leader killed -9 during a push and fetch storm: no acknowledged push lost, fetches answered, errors only in the election window', async () => {
  const jobs = await Promise.all(users.map((u) => runningJob(u, 60)));
  const config = { ...loadConfig(c.bridgeConfig, {}), timeout: 5 };
  const stop = { now: false };
  const errors: { at: number; what: string }[] = [];
  let fetches = 0;
  // Fetch storm: root on the node asks for each user's running job, over and over, through a session.
  const fetchers = users.map(async (u, i) => {
    const s = new StoreSession(config, { role: 'node' });
    while (!stop.now) {
      try {
        await fetchCreds(config, u.uid, jobs[i]!, s);
        fetches++;
      } catch (e) {
        errors.push({ at: Date.now(), what: `fetch: ${isKrb5BridgeError(e) ? e.message : String(e)}` });
      }
    }
    s.close();
  });
  // Push storm: each user gets a fresh ticket and pushes it, over and over; "pushed" lines are acknowledged.
  const acked = new Map<number, number>();
  const pushers = users.map(async (u) => {
    const kt = join(c.dir, 'keytabs', `${u.name}.keytab`);
    while (!stop.now) {
      const r = await asAsync(u, ['sh', '-c', `kinit -k -t ${kt} -l 1m -r 10m ${u.name}@${c.realm} && exec "$@"`, 'sh', ...c.helper, 'push', '--no-marker', '--timeout', '4']);
      const m = /^pushed \S+ \(expires (\S+)\)$/m.exec(r.stdout);
      if (m) acked.set(u.uid, Math.max(acked.get(u.uid) ?? 0, Date.parse(m[1]!) / 1000));
      else if (!/^kept: /m.test(r.stdout)) errors.push({ at: Date.now(), what: `push: ${r.stderr.trim()}` });
    }
  });
  await sleep(3_000);
  const leader = etcdLeader();
  expect(leader).toBeGreaterThan(0);
  const killedAt = Date.now();
  c.etcdStop(leader, 'KILL');
  await sleep(6_000);
  stop.now = true;
  await Promise.all([...fetchers, ...pushers]);
  c.etcdStart(leader);

  expect(fetches).toBeGreaterThan(50);
  expect(acked.size).toBe(users.length);
  // Every acknowledged push is in etcd, as both stores serve it (list as root: endtime per uid).
  const listed = JSON.parse(c.root([...c.helper, 'list', '--json', '--config', c.bridgeConfig]).stdout) as { uid: number; endtime: number }[];
  for (const u of users) expect(listed.find((r) => r.uid === u.uid)!.endtime).toBeGreaterThanOrEqual(acked.get(u.uid)!);
  // Failures (if any) came right after the kill, while the members elected a new leader (bound generous for a loaded machine).
  for (const e of errors) expect({ after: e.at - killedAt >= 0 && e.at - killedAt < 5_000, what: e.what }).toEqual({ after: true, what: e.what });
  for (const j of jobs) c.root(['scancel', j]);
}, 120_000);

test('one store killed -9 while jobs start: every job still gets its credential through the other', async () => {
  const u = users[0]!;
  const outs: string[] = [];
  const submitted: string[] = [];
  for (let i = 0; i < 8; i++) {
    if (i === 3) c.storeStop('KILL', 1);
    const out = join(u.home, `etcd-faults-store-kill-${process.pid}-${i}.out`);
    const r = c.as(u.name, ['sbatch', '--parsable', '--oversubscribe', '-o', out, '--wrap', 'klist | sed -n 2p']);
    expect(r.code).toBe(0);
    submitted.push(r.stdout.trim());
    outs.push(out);
  }
  try {
    for (const j of submitted) await c.waitJob(j, 60_000);
    for (const out of outs) expect(readFileSync(out, 'utf8')).toContain(`Default principal: ${u.name}@${c.realm}`);
  } finally {
    c.storeStart(1);
  }
}, 120_000);

test('2 of 3 members down: pushes refused naming the cause, jobs still get credentials from memory, said once; all resumes when they return', async () => {
  const u = users[1]!;
  const readOnly = (f: string): number => log(f).split('\n').filter((l) => l.includes('this store is read-only')).length;
  const before = [readOnly('store.log'), readOnly('store2.log')];
  const leader = etcdLeader();
  const others = [1, 2, 3].filter((m) => m !== leader);
  c.etcdStop(others[0]!, 'KILL');
  c.etcdStop(others[1]!, 'KILL');
  try {
    const push = c.as(u.name, [...c.helper, 'push', '--force', '--no-marker']);
    expect(push.code).toBe(43);
    expect(push.stderr).toMatch(/^krb5bridge: E_STORAGE: .*: no store could answer; tried \S+ \(E_STORAGE: store \S+: cannot save the record of uid \d+ in etcd \(3 member\(s\), prefix \S+\): no (answer in time: the cluster has no quorum or no leader|member reachable) .*; etcd takes no writes since \S+ \(no quorum, or no member reachable from this store\): pushes are refused, fetches are answered from memory\), /);
    // The job gets the credential the stores hold in memory.
    const job = c.as(u.name, ['srun', '--oversubscribe', 'bash', '-c', 'klist | sed -n 2p']);
    expect(job.stdout).toContain(`Default principal: ${u.name}@${c.realm}`);
    // Each store finds out by itself: a write that fails, or its health probe (every second; one
    // probe may wait out etcd_timeout on the member left, which has no quorum). Then said once.
    const said = (): number[] => [readOnly('store.log') - before[0]!, readOnly('store2.log') - before[1]!];
    const tail = (f: string): string => log(f).split('\n').filter((l) => /etcd|read-only/.test(l)).slice(-5).join('\n');
    await waitFor(() => said().every((n) => n >= 1), 20_000, 'both stores to say they are read-only').catch((e: Error) => {
      throw new Error(`${e.message}: said ${said().join(', ')} times; store.log:\n${tail('store.log')}\nstore2.log:\n${tail('store2.log')}`);
    });
    await sleep(2_000);
    expect(said()).toEqual([1, 1]);
  } finally {
    c.etcdStart(others[0]!);
    c.etcdStart(others[1]!);
  }
  await waitFor(() => c.as(u.name, [...c.helper, 'push', '--force', '--no-marker']).code === 0, 30_000, 'pushes to work again');
  const back = (f: string): number => log(f).split('\n').filter((l) => / takes writes again \(no writes since /.test(l)).length;
  await waitFor(() => back('store.log') >= 1 && back('store2.log') >= 1, 15_000, 'both stores to say they take writes again');
}, 120_000);

test('the renewing store killed -9: the other is elected within two lease TTLs and renews; the KDC renewed no ticket twice in a cycle', async () => {
  const u = users[2]!;
  const ttl = 4; // etcd_lease_ttl in the test cluster
  c.kinit(u.name);
  expect(c.as(u.name, [...c.helper, 'push', '--force', '--no-marker']).code).toBe(0);
  const renewed = (f: string): number => log(f).split('\n').filter((l) => l.includes(`op=renew uid=${u.uid} `) && l.includes('result=ok')).length;
  /** The store elected last (by the time of its log line): only one leads at a time. */
  const leaderLog = (): string | undefined => {
    const last = (f: string): number => Math.max(0, ...log(f).split('\n').filter((l) => l.includes('is elected and renews')).map((l) => Date.parse(l.slice(0, 24))));
    const [s1, s2] = [last('store.log'), last('store2.log')];
    return s1 === 0 && s2 === 0 ? undefined : s2 > s1 ? 'store2.log' : 'store.log';
  };
  // The leader renews the 1-minute ticket about 30 s before it expires.
  await waitFor(() => renewed('store.log') + renewed('store2.log') >= 1, 60_000, 'a first renewal', 500).catch((e: Error) => {
    const lines = (f: string): string => log(f).split('\n').filter((l) => /elected|leads|renew|etcd/.test(l)).slice(-8).join('\n');
    throw new Error(`${e.message}; store.log:\n${lines('store.log')}\nstore2.log:\n${lines('store2.log')}`);
  });
  const first = renewed('store.log') > 0 ? 'store.log' : 'store2.log';
  const [victim, heir] = first === 'store.log' ? [1, 'store2.log'] : [2, 'store.log'];
  const electedBefore = log(heir).split('\n').filter((l) => l.includes('is elected and renews')).length;
  const killedAt = Date.now();
  c.storeStop('KILL', victim);
  try {
    await waitFor(() => log(heir).split('\n').filter((l) => l.includes('is elected and renews')).length > electedBefore, 2 * ttl * 1000 + 2_000, 'the other store to be elected', 100);
    expect(Date.now() - killedAt).toBeLessThan(2 * ttl * 1000 + 1_000);
    expect(leaderLog()).toBe(heir);
    await waitFor(() => renewed(heir) >= 1, 70_000, 'a renewal by the new leader', 500);
  } finally {
    c.storeStart(victim);
  }
  // The KDC's own log: every krbtgt renewal of this user, a cycle apart, and as many as the stores logged.
  const kdc = log('kdc.log').split('\n').filter((l) => l.includes('TGS_REQ') && l.includes('ISSUE:') && l.includes(`, ${u.name}@${c.realm} for krbtgt/`));
  expect(kdc.length).toBe(renewed('store.log') + renewed('store2.log'));
  // "Dec 01 12:20:02 host krb5kdc[...]": seconds of the day (the file runs within minutes).
  const at = kdc.map((l) => {
    const m = /^\w{3} \d+ (\d\d):(\d\d):(\d\d) /.exec(l)!;
    return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  });
  // A double renewal would be two in the same cycle: seconds apart, where cycles are ~30 s apart.
  for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(15);
}, 180_000);
