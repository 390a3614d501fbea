/**
 * The store in Kerberos mode, for real: a real KDC and munged (scripts/testcluster --only
 * kdc,munge, which also makes the store's service keytab and the node's host keytab), the store
 * built in this process, clients through the real client code. Users authenticate with their own
 * ccache (root can read the test users' ccache files; the krb5 identity is the ticket, not the
 * process uid), the node with the host keytab. Each refusal asserts the exact code, and that the
 * credential never reached a store that did not prove its key.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { Store, build } from '../../../helper/src/server/store';
import { FrameDecoder, encodeFrame } from '../../../helper/src/wire/frame';
import { StoreSession, fetchCreds, pushCreds } from '../../../helper/src/client/client';
import { Config, defaultConfig } from '../../../helper/src/config/config';
import { readTgts } from '../../../helper/src/krb5';
import { ApClient } from '../../../helper/src/krb5';
import { KRB5_MAGIC } from '../../../helper/src/wire/auth';
import { Krb5BridgeError } from '../../../helper/src/errors';
import { Cluster, ccacheOf, clusterDown, clusterUp, userWithTicket } from '../../lib/store';

let c: Cluster;
let store: Store;
let address: string;
let base: Config;
let krb: Config;
let aliceUid: number;
let svc: string;
const log: string[] = [];
const ALICE = 'tckrba';
const BOB = 'tckrbb';
const stores: Store[] = [];

async function startStore(name: string, keytab: string | undefined, logTo: string[] = log): Promise<{ store: Store; address: string }> {
  const s = await build({
    listen: '127.0.0.1:0',
    stateDir: join(c.dir, name),
    keyFile: join(c.dir, `${name}.key`),
    minUid: 1000,
    mungeSocket: c.mungeSocket,
    krb5: keytab ? { principal: svc, keytab } : undefined,
    idleTimeoutMs: 5_000,
    log: (l) => void logTo.push(l),
  } as Parameters<typeof build>[0]);
  stores.push(s);
  const a = await s.listen();
  return { store: s, address: `127.0.0.1:${a.port}` };
}

beforeAll(async () => {
  c = clusterUp();
  svc = `krb5bridge/localhost@${c.realm}`;
  aliceUid = userWithTicket(c, ALICE);
  userWithTicket(c, BOB);
  ({ store, address } = await startStore('store-krb5', join(c.dir, 'kdc/store.keytab')));
  base = { ...defaultConfig(), store: address, munge_socket: c.mungeSocket, timeout: 5 };
  krb = {
    ...base,
    auth: 'krb5',
    store_principal: svc,
    client_keytab: join(c.dir, 'kdc/host.keytab'),
    client_principal: `host/localhost@${c.realm}`,
  };
});

afterAll(async () => {
  for (const s of stores) await s.close();
  clusterDown(c);
});

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof Krb5BridgeError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected a refusal, the call succeeded');
}

/** A TCP relay in front of `target` that records every frame the client sends. */
async function recordingProxy(target: string): Promise<{ address: string; frames: Buffer[]; close: () => void }> {
  const frames: Buffer[] = [];
  const port = Number(target.split(':')[1]);
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port });
    const dec = new FrameDecoder();
    client.on('data', (d) => {
      frames.push(...dec.push(d));
      upstream.write(d);
    });
    upstream.on('data', (d) => client.write(d));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, frames, close: () => server.close() };
}

/** A raw connection to `addr`: send frames, read frames. */
async function raw(addr: string) {
  const socket = net.connect({ host: '127.0.0.1', port: Number(addr.split(':')[1]) });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const frames: Buffer[] = [];
  const dec = new FrameDecoder();
  let wake: (() => void) | undefined;
  let closed = false;
  socket.on('data', (d) => {
    frames.push(...dec.push(d));
    wake?.();
  });
  socket.on('close', () => {
    closed = true;
    wake?.();
  });
  socket.on('error', () => undefined);
  return {
    async exchange(body: Buffer): Promise<Buffer> {
      socket.write(encodeFrame(body));
      while (frames.length === 0 && !closed) await new Promise<void>((r) => (wake = r));
      const f = frames.shift();
      if (!f) throw new Error('the store closed without answering');
      return f;
    },
    async closedByPeer(): Promise<boolean> {
      // The store closes right after its answer; the wait ends then. 10 s only bounds a broken run.
      const end = Date.now() + 10_000;
      while (!closed && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      return closed;
    },
    close: () => socket.destroy(),
  };
}

const userSession = (name: string) => new StoreSession(krb, { role: 'user', ccache: ccacheOf(c, name) });

test('push with the user TGT, fetch with the host keytab: the same credential comes back', async () => {
  const mine = readTgts(ccacheOf(c, ALICE));
  const pushed = await pushCreds(krb, mine.krbcred, { ccache: ccacheOf(c, ALICE), force: true });
  expect(pushed).toMatchObject({ action: 'stored', principal: `${ALICE}@${c.realm}` });
  const got = await fetchCreds(krb, aliceUid);
  expect(got.principal).toBe(`${ALICE}@${c.realm}`);
  expect(got.krbcred.equals(mine.krbcred)).toBe(true);
  expect(log.some((l) => l.includes('op=push') && l.includes(`uid=${aliceUid}`) && l.includes('result=ok'))).toBe(true);
});

test('one store serves munge and krb5 clients side by side', async () => {
  const s1 = userSession(ALICE);
  const viaKrb5 = await s1.request({ op: 'ping' });
  s1.close();
  expect(viaKrb5).toMatchObject({ ok: true, uid: aliceUid });
  const s2 = new StoreSession(base);
  const viaMunge = await s2.request({ op: 'ping' });
  s2.close();
  expect(viaMunge).toMatchObject({ ok: true, uid: 0 });
});

test("a user's krb5 push of someone else's ticket is E_PRINCIPAL_MISMATCH", async () => {
  const bobs = readTgts(ccacheOf(c, BOB));
  const r = await refusal(pushCreds(krb, bobs.krbcred, { ccache: ccacheOf(c, ALICE), force: true }));
  expect(r.code).toBe('E_PRINCIPAL_MISMATCH');
  expect(r.message).toContain(`${BOB}@${c.realm}`);
});

test('a user (not a host principal) cannot fetch', async () => {
  const r = await refusal(fetchCreds(krb, aliceUid, userSession(ALICE)));
  expect(r.code).toBe('E_PERMISSION');
});

test('a host principal is a node identity only: it cannot push, list or remove', async () => {
  const node = new StoreSession(krb, { role: 'node' });
  try {
    const r = await refusal(node.request({ op: 'list' }));
    expect(r.code).toBe('E_PERMISSION');
    expect(r.message).toContain(`host/localhost@${c.realm} is a node identity`);
  } finally {
    node.close();
  }
  const node2 = new StoreSession(krb, { role: 'node' });
  const r2 = await refusal(node2.request({ op: 'remove', uid: aliceUid }));
  node2.close();
  expect(r2.code).toBe('E_PERMISSION');
  expect(store.records.get(aliceUid)).toBeDefined();
});

test('a store presenting the wrong key: the client fails closed and never sends the credential', async () => {
  // Same principal name and kvno as the real service key, but another key.
  const wrongKt = join(c.dir, 'wrong.keytab');
  execFileSync('/usr/bin/ktutil', [], {
    env: { ...process.env, KRB5_CONFIG: c.krb5Config },
    input: `addent -password -p ${svc} -k 2 -e aes256-cts-hmac-sha1-96\nnot-the-key\nwkt ${wrongKt}\nquit\n`,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  chmodSync(wrongKt, 0o600);
  const rogueLog: string[] = [];
  const rogue = await startStore('store-rogue', wrongKt, rogueLog);
  const proxy = await recordingProxy(rogue.address);
  try {
    const cfg = { ...krb, store: proxy.address };
    const mine = readTgts(ccacheOf(c, ALICE));
    const r = await refusal(pushCreds(cfg, mine.krbcred, { ccache: ccacheOf(c, ALICE), force: true }));
    expect(r.code).toBe('E_AUTH');
    expect(r.message).toContain('refused the Kerberos handshake');
    // The rogue received one frame, the AP-REQ, and nothing after it; it stored nothing.
    expect(proxy.frames).toHaveLength(1);
    expect(proxy.frames[0]!.subarray(0, 4).equals(KRB5_MAGIC)).toBe(true);
    expect(rogue.store.records.list()).toHaveLength(0);
    expect(rogueLog.some((l) => l.includes('mech=krb5') && l.includes('result=E_AUTH'))).toBe(true);
  } finally {
    proxy.close();
  }
});

test('a server that answers the handshake with a forged AP-REP gets nothing either', async () => {
  const received: Buffer[] = [];
  const fake = net.createServer((sock) => {
    const dec = new FrameDecoder();
    sock.on('data', (d) => {
      for (const f of dec.push(d)) {
        received.push(f);
        // Looks like a handshake answer; it cannot be the AP-REP of this session.
        sock.write(encodeFrame(Buffer.concat([KRB5_MAGIC, Buffer.from('6f8183308180a003020105a10302010fa2743072a003020112', 'hex')])));
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', () => r()));
  try {
    const cfg = { ...krb, store: `127.0.0.1:${(fake.address() as net.AddressInfo).port}` };
    const r = await refusal(pushCreds(cfg, readTgts(ccacheOf(c, ALICE)).krbcred, { ccache: ccacheOf(c, ALICE) }));
    expect(r.code).toBe('E_AUTH');
    expect(r.message).toContain('mutual authentication failed');
    expect(received).toHaveLength(1);
  } finally {
    fake.close();
  }
});

test('a replayed handshake is refused E_AUTH', async () => {
  const proxy = await recordingProxy(address);
  try {
    const s = new StoreSession({ ...krb, store: proxy.address }, { role: 'user', ccache: ccacheOf(c, ALICE) });
    await s.request({ op: 'ping' });
    s.close();
    const conn = await raw(address);
    const answer = JSON.parse((await conn.exchange(proxy.frames[0]!)).toString('utf8'));
    expect(answer).toMatchObject({ ok: false, code: 'E_AUTH' });
    expect(answer.message).toContain('replayed authentication');
    expect(await conn.closedByPeer()).toBe(true);
  } finally {
    proxy.close();
  }
});

/** A handshake done by hand, so the test can send what no honest client would. */
async function handshaken() {
  const conn = await raw(address);
  const { session, apReq } = ApClient.start({ kind: 'ccache', ccache: ccacheOf(c, ALICE) }, svc);
  const reply = await conn.exchange(Buffer.concat([KRB5_MAGIC, apReq]));
  session.verifyReply(reply.subarray(4), svc);
  const request = (nonce: string) => session.seal(Buffer.from(JSON.stringify({ v: 1, op: 'ping', nonce })));
  const answerOf = (frame: Buffer) => JSON.parse(session.open(frame, 'answer').toString('utf8'));
  return { conn, session, request, answerOf };
}

test('a replayed message is refused E_AUTH and the connection closed', async () => {
  const h = await handshaken();
  const m = h.request('1111111111111111');
  expect(h.answerOf(await h.conn.exchange(m))).toMatchObject({ ok: true, nonce: '1111111111111111', uid: aliceUid });
  const again = h.answerOf(await h.conn.exchange(m));
  expect(again).toMatchObject({ ok: false, code: 'E_AUTH' });
  expect(again.message).toContain('out of sequence');
  expect(await h.conn.closedByPeer()).toBe(true);
  h.session.close();
});

test('a tampered ciphertext is refused E_AUTH', async () => {
  const h = await handshaken();
  const m = Buffer.from(h.request('2222222222222222'));
  m[m.length - 3]! ^= 0x40;
  const answer = h.answerOf(await h.conn.exchange(m));
  expect(answer).toMatchObject({ ok: false, code: 'E_AUTH' });
  expect(answer.message).toContain('integrity check failed');
  expect(await h.conn.closedByPeer()).toBe(true);
  h.session.close();
});

test('a store without a keytab refuses krb5 clients with a clear E_AUTH', async () => {
  const plain = await startStore('store-munge-only', undefined);
  const r = await refusal(new StoreSession({ ...krb, store: plain.address }, { role: 'user', ccache: ccacheOf(c, ALICE) }).request({ op: 'ping' }));
  expect(r.code).toBe('E_AUTH');
  expect(r.message).toContain('accepts no Kerberos clients');
});
