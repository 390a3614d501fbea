/**
 * Several compute nodes (scripts/testcluster up --nodes 3: each node a network, mount and UTS
 * namespace of its own, with its own /tmp, munged, slurmd and keeper): every node of a job gets
 * the credential and loses it at the job's end, a node cannot fetch for a job that runs
 * elsewhere, each keeper refreshes its own node's ccaches, and one node's keeper down leaves the
 * others untouched. 1-minute tickets, so that renewal and refresh happen within the file.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, User, clusterForFile, waitFor } from '../lib/cluster';

const cluster = clusterForFile({ nodes: 3, ticketLifetime: '1m', renewLifetime: '10m' });
let c: Cluster;
let alice: User;
let bob: User;
const NODES = ['node1', 'node2', 'node3'];

/** What each task prints: its node, KRB5CCNAME, the file's owner/mode/links, the principal, kvno. */
const PROBE =
  'f=${KRB5CCNAME#FILE:}; echo "P $(hostname) $KRB5CCNAME $(stat -c "%U %a %h" "$f") $(klist | sed -n 2p | sed "s/.*: //") ' +
  '$(kvno -q host/node1 >/dev/null 2>&1 && echo kvno-ok || echo kvno-failed)"';

interface Probe {
  node: string;
  ccache: string;
  owner: string;
  mode: string;
  links: string;
  principal: string;
  kvno: string;
}
const probes = (out: string): Probe[] =>
  [...out.matchAll(/^(?:\d+: )?P (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+)$/gm)].map((m) => ({
    node: m[1]!,
    ccache: m[2]!,
    owner: m[3]!,
    mode: m[4]!,
    links: m[5]!,
    principal: m[6]!,
    kvno: m[7]!,
  }));

const log = (name: string): string => (existsSync(join(c.dir, 'log', name)) ? readFileSync(join(c.dir, 'log', name), 'utf8') : '');
/** The job ccaches of uid's job on NODE, in that node's own /tmp. */
const ccachesOn = (node: string, u: User, job: string): string[] =>
  readdirSync(join(c.dir, 'nodes', node, 'tmp')).filter((f) => f.startsWith(`krb5cc_${u.uid}_${job}_`));
const recordOn = (node: string, job: string): string => join(c.dir, 'nodes', node, 'node', 'jobs', job);

function expectCredentialEverywhere(ps: Probe[], u: User, job: string, nodes = NODES): void {
  expect(ps.map((p) => p.node).sort()).toEqual(nodes);
  for (const p of ps) {
    expect(p.ccache).toMatch(new RegExp(`^FILE:/tmp/krb5cc_${u.uid}_${job}_[A-Za-z0-9]{6}$`));
    expect({ node: p.node, owner: p.owner, mode: p.mode, links: p.links, principal: p.principal, kvno: p.kvno }).toEqual({
      node: p.node,
      owner: u.name,
      mode: '600',
      links: '1',
      principal: `${u.name}@${c.realm}`,
      kvno: 'kvno-ok',
    });
  }
  // Each node wrote its own file in its own /tmp: three names, none visible on another node.
  expect(new Set(ps.map((p) => p.ccache)).size).toBe(nodes.length);
}

async function expectDestroyedEverywhere(u: User, job: string): Promise<void> {
  for (const node of NODES) {
    await waitFor(() => ccachesOn(node, u, job).length === 0 && !existsSync(recordOn(node, job)), 30_000, `the epilog of job ${job} on ${node}`);
  }
}

let refreshJob: string;

beforeAll(() => {
  c = cluster.get();
  alice = c.adduser('kbmnalice');
  bob = c.adduser('kbmnbob');
  c.kinit(alice.name);
  c.kinit(bob.name);
  // Runs while the other tests do: its ccaches must be refreshed by each node's keeper (1-minute tickets).
  const r = c.as(bob.name, ['sbatch', '--parsable', '-N3', '--oversubscribe', '-o', '/dev/null', '--wrap', 'srun -N3 --oversubscribe sleep 100']);
  expect(r.code).toBe(0);
  refreshJob = r.stdout.trim();
});

test('srun -N3: every node gets the credential (owner, mode, KRB5CCNAME, kvno); the epilog destroys it on every node', async () => {
  const r = c.as(alice.name, ['srun', '-N3', '--oversubscribe', 'bash', '-c', PROBE]);
  expect(r.stderr).not.toMatch(/error|E_[A-Z]/);
  const ps = probes(r.stdout);
  const job = /krb5cc_\d+_(\d+)_/.exec(ps[0]?.ccache ?? '')?.[1] ?? '?';
  expectCredentialEverywhere(ps, alice, job);
  await expectDestroyedEverywhere(alice, job);
}, 60_000);

test('sbatch -N3: the batch step and a 3-node step inside it have the credential on every node; destroyed everywhere after', async () => {
  const out = join(alice.home, `mn-sbatch-${process.pid}.out`);
  const r = c.as(alice.name, ['sbatch', '--parsable', '-N3', '--oversubscribe', '-o', out, '--wrap', `${PROBE}; srun -N3 --oversubscribe bash -c '${PROBE.replace(/'/g, "'\\''")}'`]);
  expect(r.code).toBe(0);
  const job = r.stdout.trim();
  await c.waitJob(job, 60_000);
  const ps = probes(readFileSync(out, 'utf8'));
  expect(ps).toHaveLength(4);
  // The batch step runs on the first node and shares that node's ccache with the step.
  expectCredentialEverywhere(ps.slice(1), alice, job);
  expect(ps[0]!.ccache).toBe(ps.slice(1).find((p) => p.node === ps[0]!.node)!.ccache);
  await expectDestroyedEverywhere(alice, job);
}, 90_000);

describe('a job on node1 and node2 only', () => {
  let job: string;
  beforeAll(async () => {
    const r = c.as(alice.name, ['sbatch', '--parsable', '-N2', '-w', 'node[1-2]', '--oversubscribe', '-o', '/dev/null', '--wrap', 'srun -N2 --oversubscribe sleep 120']);
    expect(r.code).toBe(0);
    job = r.stdout.trim();
    await waitFor(() => existsSync(recordOn('node1', job)) && existsSync(recordOn('node2', job)), 30_000, `job ${job} to have its ccaches on node1 and node2`);
  });
  afterAll(() => void c.root(['scancel', job]));

  test('root on node3 cannot fetch its credential (munge: the node by its address): E_NO_JOB, no ticket written', () => {
    const [nodeBin, helper] = c.helper;
    const r = c.on('node3', [nodeBin!, helper!, 'materialise', '--config', c.bridgeConfig, '--uid', String(alice.uid), '--gid', String(alice.gid), '--job', job]);
    // The job gets a path and waits (pending) as any job whose credential cannot be had: none is given.
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^KRB5CCNAME=FILE:/tmp/krb5cc_${alice.uid}_${job}_\\w{6}\tpending E_NO_JOB store \\S+: job ${job} of uid ${alice.uid} does not run on node3 \\(the asking host ${c.env.TC_NODE_NET!.replace(/\./g, '\\.')}\\.13\\); it runs on node1,node2\n$`));
    expect(ccachesOn('node3', alice, job)).toEqual([]);
    const audit = log('audit.log').split('\n').filter((l) => l.includes(`"job":"${job}"`) && l.includes('E_NO_JOB'));
    expect(audit.map((l) => JSON.parse(l))).toContainEqual(expect.objectContaining({ op: 'fetch', result: 'refused', code: 'E_NO_JOB', host: `${c.env.TC_NODE_NET}.13`, target_uid: alice.uid, mech: 'munge' }));
  });

  test("node3's keeper asking (krb5: the node by its host principal) is refused the same way", () => {
    const sock = join(c.nodeState, 'keeper.sock');
    const ask = "const s=require('net').connect(process.argv[1]);s.write(process.argv[2]+'\\n');s.on('data',(d)=>{process.stdout.write(d);s.end()})";
    const r = c.on('node3', [c.helper[0]!, '-e', ask, sock, `materialise ${alice.uid} ${alice.gid} ${job}`]);
    expect(r.stdout).toMatch(new RegExp(`^ok KRB5CCNAME=FILE:/tmp/krb5cc_${alice.uid}_${job}_\\w{6}\tpending E_NO_JOB store \\S+: job ${job} of uid ${alice.uid} does not run on node3 \\(the asking host node3 / `));
    const audit = log('audit.log').split('\n').filter((l) => l.includes(`"job":"${job}"`) && l.includes('host/node3@'));
    expect(audit.map((l) => JSON.parse(l))).toContainEqual(expect.objectContaining({ op: 'fetch', result: 'refused', code: 'E_NO_JOB', principal: `host/node3@${c.realm}`, mech: 'krb5' }));
    expect(ccachesOn('node3', alice, job)).toEqual([]);
  });
});

test("one node's keeper down: that node falls back to the helper, the other nodes' keepers serve the job", async () => {
  c.keeperStop('node2');
  try {
    const r = c.as(alice.name, ['srun', '-N3', '--oversubscribe', 'bash', '-c', PROBE]);
    const ps = probes(r.stdout);
    const job = /krb5cc_\d+_(\d+)_/.exec(ps[0]?.ccache ?? '')?.[1] ?? '?';
    expectCredentialEverywhere(ps, alice, job);
    const materialised = (node: string): boolean => log(`keeper-${node}.log`).includes(`materialise ${alice.uid} ${alice.gid} ${job} -> ok`);
    expect(NODES.map((n) => [n, materialised(n)])).toEqual([
      ['node1', true],
      ['node2', false],
      ['node3', true],
    ]);
    await expectDestroyedEverywhere(alice, job);
  } finally {
    c.keeperStart('node2');
  }
}, 60_000);

test("each node's keeper refreshes its own node's ccache of a running job (1-minute tickets)", async () => {
  const paths: Record<string, string> = {};
  for (const node of NODES) {
    await waitFor(() => existsSync(recordOn(node, refreshJob)), 30_000, `job ${refreshJob} to have its ccache on ${node}`);
    paths[node] = readFileSync(recordOn(node, refreshJob), 'utf8').trim().split(' ')[1]!;
  }
  const refreshed = (node: string): boolean =>
    log(`keeper-${node}.log`).includes(`job ${refreshJob} uid ${bob.uid} principal ${bob.name}@${c.realm}: refreshed ${paths[node]} from the store`);
  // The store renews about 30 s before expiry, the keepers refresh after it: within two minutes of the push.
  await waitFor(() => NODES.every(refreshed), 150_000, 'each node to refresh its ccache', 1_000);
  // Every keeper refreshed only its own node's file.
  for (const node of NODES) {
    for (const other of NODES.filter((n) => n !== node)) expect(log(`keeper-${node}.log`)).not.toContain(paths[other]!);
  }
  expect(log('store.log')).toMatch(new RegExp(`op=renew uid=${bob.uid} principal=${bob.name}@${c.realm} result=ok`));
}, 180_000);
