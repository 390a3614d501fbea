/**
 * The store's policy and data protection on a real cluster (KDC, munged, slurmctld, slurmd, the
 * store with the testcluster's policy, key file and audit log): job-bound fetch checked against
 * slurmctld, host rules on the real peer address, bans, encryption at rest, online key rotation.
 * Every refusal asserts the exact code, that no credential came back, and its audit line.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Cluster, User, clusterForFile, waitFor } from '../lib/cluster';
import { mungeDecode, mungeEncode } from '../../helper/src/munge';
import { FrameDecoder, encodeFrame } from '../../helper/src/wire/frame';

let c: Cluster;
let alice: User;
let bob: User;
let eve: User;
let job: string;
let auditLog: string;

// No node keeper: its refresh fetches would add audit lines to the exact ones these tests expect.
const cluster = clusterForFile({ keeper: false });

/** One request as root, sent from `from` (a loopback address), answered and decoded. */
async function rootRequest(fields: Record<string, unknown>, from = '127.0.0.1'): Promise<Record<string, unknown>> {
  const nonce = randomBytes(8).toString('hex');
  const cred = await mungeEncode(Buffer.from(JSON.stringify({ v: 1, nonce, ...fields })), { socket: c.mungeSocket, uidRestriction: 0 });
  const [host, port] = c.store.split(':');
  const body = await new Promise<Buffer>((resolve, reject) => {
    const s = net.connect({ host, port: Number(port), localAddress: from });
    const dec = new FrameDecoder();
    s.on('error', reject);
    s.on('connect', () => s.write(encodeFrame(cred)));
    s.on('data', (d) => {
      const f = dec.push(d);
      if (f.length > 0) {
        s.destroy();
        resolve(f[0]!);
      }
    });
  });
  const answer = await mungeDecode(body.toString('latin1'), { socket: c.mungeSocket });
  const resp = JSON.parse(answer.payload.toString('utf8'));
  expect(resp.nonce).toBe(nonce);
  return resp;
}

/** The audit lines written since `mark` (a byte offset), parsed. */
function auditSince(mark: number): Record<string, unknown>[] {
  const text = fs.readFileSync(auditLog, 'utf8').slice(mark);
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}
const auditMark = (): number => fs.statSync(auditLog).size;

beforeAll(async () => {
  c = cluster.get();
  alice = c.adduser('kpalice');
  bob = c.adduser('kpbob');
  eve = c.adduser('kpeve');
  for (const u of [alice, bob, eve]) c.kinit(u.name);
  auditLog = join(c.dir, 'log', 'audit.log');
  // The testcluster's policy plus a ban; the store reads it at start.
  fs.appendFileSync(join(c.dir, 'store.acl'), `ban principal ${eve.name}@*\n`);
  c.storeStop();
  c.storeStart();
  expect(c.as(alice.name, [...c.helper, 'push', '--no-marker']).code).toBe(0);
  expect(c.as(bob.name, [...c.helper, 'push', '--no-marker']).code).toBe(0);
  const sb = c.as(alice.name, ['sbatch', '--parsable', '--wrap', 'sleep 60']);
  expect(sb.code).toBe(0);
  job = sb.stdout.trim().split(';')[0]!;
  await waitFor(() => c.root(['squeue', '-h', '-j', job, '-o', '%T']).stdout.trim() === 'RUNNING', 15_000, `job ${job} to run`);
  // RUNNING comes before the job's own fetch has finished; the job record is written after it. Past
  // this point nothing else fetches, so each test sees only the audit lines of its own requests.
  await waitFor(() => fs.existsSync(join(c.nodeState, 'jobs', job)), 15_000, `job ${job} to get its ccache`);
});

test('the node running a job of the user gets the credential (slurmctld asked through libslurm)', async () => {
  const mark = auditMark();
  const r = await rootRequest({ op: 'fetch', uid: alice.uid, job });
  expect(r).toMatchObject({ ok: true, uid: alice.uid, principal: `${alice.name}@${c.realm}` });
  expect(typeof r.creds).toBe('string');
  expect(auditSince(mark)).toEqual([expect.objectContaining({ op: 'fetch', result: 'ok', uid: 0, host: '127.0.0.1', job, target_uid: alice.uid, mech: 'munge' })]);
});

test.each([
  ['a user with no job there (naming another user\'s job)', () => ({ uid: bob.uid, job }), `job ${'$JOB'} belongs to uid`],
  ['a job that does not exist', () => ({ uid: alice.uid, job: '999999' }), 'job 999999 is not known to slurmctld'],
  ['no job named', () => ({ uid: alice.uid }), 'the fetch names no job'],
])('node fetch for %s: E_NO_JOB, nothing leaked, audited', async (_n, fields, msg) => {
  const mark = auditMark();
  const f = fields();
  const r = await rootRequest({ op: 'fetch', ...f });
  expect(r).toMatchObject({ ok: false, code: 'E_NO_JOB' });
  expect(r.message).toContain(msg.replace('$JOB', job));
  expect(r.creds).toBeUndefined();
  expect(auditSince(mark)).toEqual([expect.objectContaining({ op: 'fetch', result: 'refused', code: 'E_NO_JOB', uid: 0, target_uid: f.uid })]);
});

test('root from a host the policy does not name (127.0.0.2): E_PERMISSION by the host rule, audited with that host', async () => {
  const mark = auditMark();
  const r = await rootRequest({ op: 'fetch', uid: alice.uid, job }, '127.0.0.2');
  expect(r).toMatchObject({ ok: false, code: 'E_PERMISSION' });
  expect(r.message).toContain(`uid 0 from 127.0.0.2 may not fetch credentials (of uid ${alice.uid})`);
  expect(r.message).toContain('host 127.0.0.2 not 127.0.0.1,localhost');
  expect(r.creds).toBeUndefined();
  expect(auditSince(mark)).toEqual([expect.objectContaining({ op: 'fetch', result: 'refused', code: 'E_PERMISSION', host: '127.0.0.2' })]);
  // The same request from the named host passes: the rule really matches.
  expect((await rootRequest({ op: 'list' }, '127.0.0.1')).ok).toBe(true);
});

test('a user fetching is refused E_PERMISSION', () => {
  const r = c.as(alice.name, [...c.helper, 'show', '--uid', String(bob.uid)]);
  expect(r.code).toBe(32);
  expect(r.stderr).toContain('E_PERMISSION');
});

test('a banned principal pushes: E_PERMISSION naming the ban, nothing stored, audited', () => {
  const mark = auditMark();
  const r = c.as(eve.name, [...c.helper, 'push', '--no-marker']);
  expect(r.code).toBe(32);
  expect(r.stderr).toContain(`banned by ${join(c.dir, 'store.acl')}:4 (ban principal ${eve.name}@*)`);
  expect(fs.existsSync(join(c.storeState, 'creds', `${eve.uid}.json`))).toBe(false);
  expect(auditSince(mark)).toEqual([expect.objectContaining({ op: 'push', result: 'refused', code: 'E_PERMISSION', uid: eve.uid, principal: `${eve.name}@${c.realm}`, rule: `${join(c.dir, 'store.acl')}:4` })]);
});

test('acl check explains the same decisions', () => {
  const policy = join(c.dir, 'store.acl');
  const yes = c.root([...c.helper, 'acl', 'check', '--policy', policy, '--uid', '0', '--host', '127.0.0.1', '--op', 'fetch']);
  expect(yes.code).toBe(0);
  expect(yes.stdout).toContain(`allow: ${policy}:2 (allow node,admin uid 0 host 127.0.0.1,localhost) grants role node`);
  const no = c.root([...c.helper, 'acl', 'check', '--policy', policy, '--uid', '0', '--host', '127.0.0.2', '--op', 'fetch']);
  expect(no.code).toBe(32);
  expect(no.stdout).toContain('deny: no rule of the policy');
});

test('the state directory holds no principal name or ticket bytes; online rotation keeps every credential', async () => {
  const fetched = await rootRequest({ op: 'fetch', uid: alice.uid, job });
  const ticket = Buffer.from(fetched.creds as string, 'base64');
  const files = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
  const clean = (): void => {
    for (const f of files(c.storeState)) {
      const b = fs.readFileSync(f);
      for (const needle of [c.realm, alice.name, bob.name, ticket.subarray(40, 80), ticket.toString('base64').slice(40, 80)]) expect({ f, has: b.includes(needle) }).toEqual({ f, has: false });
    }
  };
  clean();
  const keyFile = join(c.dir, 'run', 'store.key');
  const mark = auditMark();
  const r = c.root([...c.helper, 'rotate-key', '--config', c.bridgeConfig, '--json']);
  expect(r.stderr).toBe('');
  expect(JSON.parse(r.stdout)).toEqual({ keyId: 2, rewritten: 2, total: 2 });
  expect(fs.readFileSync(keyFile, 'utf8')).toMatch(/^key 2 /m);
  expect(fs.readFileSync(keyFile, 'utf8')).not.toMatch(/^key 1 /m);
  expect(auditSince(mark)).toEqual([expect.objectContaining({ op: 'rotate', result: 'ok', uid: 0, action: '2' })]);
  clean();
  // A restarted store reads every record with the new key alone, and jobs still get tickets.
  c.storeStop();
  c.storeStart();
  expect(fs.readFileSync(join(c.dir, 'log', 'store.log'), 'utf8')).toMatch(/loaded 2 credential\(s\)[^\n]*\n[^\n]*listening/);
  const again = await rootRequest({ op: 'fetch', uid: alice.uid, job });
  expect(again.creds).toBe(fetched.creds);
  // Done with the job: cancel it now, so the node is idle when the file's cluster check runs.
  c.root(['scancel', job]);
  await c.waitJob(job);
});
