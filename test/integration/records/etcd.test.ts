/**
 * The etcd backend against a real etcd cluster (Debian's etcd-server 3.4, three members on
 * loopback: scripts/testcluster up --only kdc,munge --etcd 3), with two stores in this process
 * sharing it as two `krb5bridge serve` on two hosts would: the watch, compare-and-swap across
 * stores, sealing, quorum loss and recovery, a member killed under load, the renewer's election,
 * and key rotation with a key file per host.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RecordCodec } from '../../../helper/src/records/codec';
import { EtcdRecordStore } from '../../../helper/src/records/etcd';
import { loadOrCreateKeyFile, prepareKey } from '../../../helper/src/records/keyfile';
import { rotateKey } from '../../../helper/src/records/rotate';
import type { StoredCredential } from '../../../helper/src/records/types';
import { Cluster, clusterDown, clusterUp, etcdMember } from '../../lib/store';

let c: Cluster;
let work: string;
const stores: EtcdRecordStore[] = [];
const logs = new Map<EtcdRecordStore, string[]>();
let prefixN = 0;

beforeAll(() => {
  c = clusterUp({ etcd: 3 });
  work = mkdtempSync(join(c.dir, 'etcd-test-'));
});
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  clusterDown(c);
});

/** A store on the cluster's etcd under `prefix`, with its own key file (copied from `keyFrom` if given). */
async function store(prefix: string, keyFile: string, o: { ttl?: number } = {}): Promise<EtcdRecordStore> {
  const { ring } = await loadOrCreateKeyFile(keyFile);
  const lines: string[] = [];
  const s = await EtcdRecordStore.open({
    endpoints: c.etcdEndpoints!,
    prefix,
    leaseTtl: o.ttl ?? 2,
    timeoutMs: 1_500,
    codec: new RecordCodec(ring),
    keyFile,
    log: (l) => void lines.push(l),
    keyFilePollMs: 200,
  });
  stores.push(s);
  logs.set(s, lines);
  return s;
}

/** Two stores sharing a fresh prefix, one key file copied to both "hosts". */
async function pair(o: { ttl?: number } = {}): Promise<[EtcdRecordStore, EtcdRecordStore, string, string]> {
  const prefix = `/krb5bridge-test/${process.pid}-${++prefixN}/`;
  const ka = join(work, `a${prefixN}.key`);
  const kb = join(work, `b${prefixN}.key`);
  await loadOrCreateKeyFile(ka);
  copyFileSync(ka, kb);
  return [await store(prefix, ka, o), await store(prefix, kb, o), ka, kb];
}

const cred = (uid: number, endtime: number, authtime = 1000): StoredCredential => ({
  uid,
  principal: `u${uid}@TEST`,
  authtime,
  endtime,
  renew_till: endtime + 3600,
  stored_at: Math.max(0, endtime - 3600),
  creds: Buffer.from(`ticket-bytes-${uid}-${endtime}`).toString('base64'),
});

async function until(fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const etcdctl = (...args: string[]): string => execFileSync('etcdctl', ['--endpoints', c.etcdEndpoints!, ...args], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });

test("a put on one store reaches the other's view through the watch, at the same version (etcd's revision)", async () => {
  const [a, b] = await pair();
  const r = await a.put(cred(2001, 5000), { kind: 'fresher' });
  expect(r.written).toBe(true);
  await until(() => b.get(2001)?.cred.endtime === 5000);
  expect(b.get(2001)!.version).toBe(a.get(2001)!.version);
  expect(Number(a.get(2001)!.version)).toBeGreaterThan(0);
  expect(await b.delete(2001, b.get(2001)!.version)).toBe(true);
  await until(() => a.get(2001) === undefined);
});

test('records are sealed before they reach etcd: no principal, no ticket bytes', async () => {
  const [a] = await pair();
  await a.put(cred(2002, 5000), { kind: 'fresher' });
  const dump = etcdctl('get', '--prefix', '/krb5bridge-test/');
  expect(dump).toContain('"kid":');
  expect(dump).not.toContain('u2002@TEST');
  expect(dump).not.toContain(Buffer.from('ticket-bytes-2002').toString('base64').slice(0, 16));
});

test('only a fresher ticket replaces, across stores: 200 pushes racing on two stores end with the freshest everywhere', async () => {
  const [a, b] = await pair();
  const ends = Array.from({ length: 200 }, (_, i) => 10_000 + ((i * 7919) % 200));
  const results = await Promise.all(ends.map((e, i) => (i % 2 ? a : b).put(cred(2003, e), { kind: 'fresher' })));
  const written = results.filter((r) => r.written).length;
  expect(written).toBeGreaterThanOrEqual(1);
  const max = Math.max(...ends);
  await until(() => a.get(2003)?.cred.endtime === max && b.get(2003)?.cred.endtime === max);
  // A push answered "stored" was never lost: nothing less fresh than the last stored one survived.
  expect(a.get(2003)!.version).toBe(b.get(2003)!.version);
});

test("the renewer's write (compare-and-swap on the version it read) loses to a push on another store, even before the watch tells it", async () => {
  const [a, b] = await pair();
  const first = await a.put(cred(2004, 5000), { kind: 'fresher' });
  expect(first.written).toBe(true);
  const readVersion = a.get(2004)!.version;
  await until(() => b.get(2004) !== undefined);
  expect((await b.put(cred(2004, 9000, 2000), { kind: 'fresher' })).written).toBe(true);
  // A renews what it read: etcd no longer holds that version.
  const r = await a.put(cred(2004, 6000), { kind: 'version', version: readVersion });
  expect(r.written).toBe(false);
  expect(r.written === false && r.current?.cred.endtime).toBe(9000);
  expect(a.get(2004)!.cred.endtime).toBe(9000);
  // Nor does a delete of the old version remove the pushed ticket.
  expect(await a.delete(2004, readVersion)).toBe(false);
});

test('a write answered as lost is safe to try again: the second try finds it and writes nothing twice', async () => {
  const [a] = await pair();
  expect((await a.put(cred(2005, 7000), { kind: 'fresher' })).written).toBe(true);
  const r = await a.put(cred(2005, 7000), { kind: 'fresher' });
  expect(r.written).toBe(false);
  expect(r.written === false && r.current?.cred.endtime).toBe(7000);
});

test('the renewer is elected on one store only; when it resigns (or dies) the other is elected within a TTL', async () => {
  const [a, b] = await pair({ ttl: 2 });
  await until(() => a.leadership.leading() || b.leadership.leading(), 10_000);
  const [leader, other] = a.leadership.leading() ? [a, b] : [b, a];
  // Never two at once.
  for (let i = 0; i < 20; i++) {
    expect(a.leadership.leading() && b.leadership.leading()).toBe(false);
    await new Promise((r) => setTimeout(r, 50));
  }
  const t0 = Date.now();
  await leader.leadership.close();
  await until(() => other.leadership.leading(), 4_000);
  expect(Date.now() - t0).toBeLessThan(4_000);
  expect(leader.leadership.leading()).toBe(false);
  expect(logs.get(other)!.some((l) => l.includes('is elected and renews the stored tickets'))).toBe(true);
});

test('key rotation with a key file per host: refused until every store holds the new key, then every record opens on both', async () => {
  const [a, b, ka, kb] = await pair();
  for (let uid = 2100; uid < 2110; uid++) await a.put(cred(uid, 8000), { kind: 'fresher' });
  await until(() => b.list().filter((e) => e.cred.uid >= 2100 && e.cred.uid < 2110).length === 10);
  const codecA = (a as unknown as { codec: RecordCodec }).codec;
  await expect(rotateKey(a, codecA.keys, ka)).rejects.toMatchObject({ code: 'E_STATE', message: expect.stringMatching(/key rotation refused: store \S+ \(keys 1\) does not hold key 2, so it could not open the records sealed with it\. Run `krb5bridge rotate-key --prepare` on one store host, copy its key file to every store host/) });
  expect(etcdctl('get', '--prefix', `/krb5bridge-test/${process.pid}-${prefixN}/creds/2100`)).toContain('"kid":1');
  // The operator prepares the key on one host and copies the file to the other; each store reads it again.
  expect(await prepareKey(ka)).toBe(2);
  copyFileSync(ka, kb);
  await until(() => logs.get(b)!.some((l) => l.includes('key(s) 2 added')) && logs.get(a)!.some((l) => l.includes('key(s) 2 added')), 5_000);
  const r = await rotateKey(a, codecA.keys, ka);
  expect(r).toMatchObject({ id: 2, rewritten: 10 });
  expect(etcdctl('get', '--prefix', `/krb5bridge-test/${process.pid}-${prefixN}/creds/2100`)).toContain('"kid":2');
  // B follows the re-sealed records through its watch: every one opens with the key it holds.
  await until(() => b.list().filter((e) => e.cred.uid >= 2100 && e.cred.uid < 2110 && e.version === a.get(e.cred.uid)?.version).length === 10);
  expect(logs.get(b)!.filter((l) => l.includes('does not open'))).toEqual([]);
});

describe('faults', () => {
  afterEach(() => {
    for (const m of [1, 2, 3]) etcdMember(c, 'start', m);
  });

  test('2 of 3 members down: writes refused with E_STORAGE naming the cause, reads from memory, said once; all resumes when they return', async () => {
    const [a, b] = await pair();
    await a.put(cred(2200, 5000), { kind: 'fresher' });
    await until(() => b.get(2200) !== undefined);
    etcdMember(c, 'kill', 2);
    etcdMember(c, 'kill', 3);
    const e = await a.put(cred(2200, 6000), { kind: 'fresher' }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'E_STORAGE', message: expect.stringMatching(/cannot save the record of uid 2200 in etcd \(3 member\(s\), prefix \S+\): no (answer in time: the cluster has no quorum or no leader|member reachable) \(.+\); etcd takes no writes since \S+ \(no quorum, or no member reachable from this store\): pushes are refused, fetches are answered from memory/) });
    // Reads never wait for etcd.
    expect(b.get(2200)!.cred.endtime).toBe(5000);
    expect(a.get(2200)!.cred.endtime).toBe(5000);
    await until(() => !b.health().ok, 5_000);
    expect(b.health()).toMatchObject({ ok: false, problem: expect.stringContaining('takes no writes') });
    await a.put(cred(2200, 6001), { kind: 'fresher' }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 1_500));
    const readOnly = (s: EtcdRecordStore): number => logs.get(s)!.filter((l) => l.includes('this store is read-only')).length;
    expect([readOnly(a), readOnly(b)]).toEqual([1, 1]);

    etcdMember(c, 'start', 2);
    etcdMember(c, 'start', 3);
    await until(() => a.health().ok && b.health().ok, 15_000);
    expect((await a.put(cred(2200, 7000), { kind: 'fresher' })).written).toBe(true);
    await until(() => b.get(2200)?.cred.endtime === 7000);
    const back = (s: EtcdRecordStore): number => logs.get(s)!.filter((l) => / takes writes again \(no writes since /.test(l)).length;
    expect([back(a), back(b)]).toEqual([1, 1]);
    // Nothing repeats every second while etcd is away: each kind of line at most once per store (the
    // renewer losing its lease and being elected again after the outage is once each).
    for (const s of [a, b]) {
      const kinds = logs.get(s)!.filter((l) => !l.includes(' is elected ')).map((l) => l.replace(/\d[\d:.TZ-]*|\([^)]*\)/g, ''));
      expect(kinds.filter((k, i) => kinds.indexOf(k) !== i)).toEqual([]);
    }
  }, 60_000);

  test('a member killed during a storm of writes on two stores: no acknowledged write is lost; failures only right after the kill', async () => {
    const [a, b] = await pair();
    const acked = new Map<number, number>(); // uid -> last endtime acknowledged as stored
    const failures: number[] = [];
    let killedAt = 0;
    const end = Date.now() + 6_000;
    let t = 20_000;
    const writer = async (s: EtcdRecordStore, uid: number): Promise<void> => {
      while (Date.now() < end) {
        const e = ++t;
        try {
          const r = await s.put(cred(uid, e), { kind: 'fresher' });
          if (r.written) acked.set(uid, Math.max(acked.get(uid) ?? 0, e));
        } catch {
          failures.push(Date.now());
        }
      }
    };
    const storm = Promise.all(Array.from({ length: 16 }, (_, i) => writer(i % 2 ? a : b, 2300 + (i % 8))));
    await new Promise((r) => setTimeout(r, 2_000));
    // The member the others follow, if we can tell; else the first.
    killedAt = Date.now();
    etcdMember(c, 'kill', 1);
    await storm;
    for (const [uid, e] of acked) {
      await until(() => (a.get(uid)?.cred.endtime ?? 0) >= e && (b.get(uid)?.cred.endtime ?? 0) >= e);
    }
    expect(acked.size).toBe(8);
    // Writes that failed did so within the election window after the kill (generous for a loaded machine).
    for (const f of failures) expect(f - killedAt).toBeLessThan(5_000);
  }, 60_000);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));
