/**
 * The store server for real: a real munged and KDC (scripts/testcluster --only kdc,munge), the
 * server built in this process on port 0, clients as root and as ordinary users.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { Store, build } from '../../../helper/src/server/store';
import { FrameDecoder, MAX_FRAME, encodeFrame } from '../../../helper/src/wire/frame';
import { mungeDecode, mungeEncode } from '../../../helper/src/munge';
import { fetchCreds, ping } from '../../../helper/src/client/client';
import { defaultConfig, Config } from '../../../helper/src/config/config';
import { parseKrbCred } from '../../../helper/src/krb5';
import { Cluster, bundleClientRunner, ccacheOf, clientAs, clusterDown, clusterUp, helperAs, helperAsRoot, userWithTicket } from '../../lib/store';

let c: Cluster;
let store: Store;
let address: string;
let config: Config;
let runner: string;
let aliceUid: number;
const log: string[] = [];
const ALICE = 'tcstore';
const BOB = 'tcstore2';

beforeAll(async () => {
  c = clusterUp();
  aliceUid = userWithTicket(c, ALICE);
  userWithTicket(c, BOB);
  store = await build({
    listen: '127.0.0.1:0',
    stateDir: join(c.dir, 'store-under-test'),
    keyFile: join(c.dir, 'store-under-test.key'),
    minUid: 1000,
    mungeSocket: c.mungeSocket,
    frameTimeoutMs: 500,
    idleTimeoutMs: 5_000,
    log: (l) => void log.push(l),
  });
  const a = await store.listen();
  address = `127.0.0.1:${a.port}`;
  config = { ...defaultConfig(), store: address, munge_socket: c.mungeSocket, timeout: 5 };
  runner = bundleClientRunner(c.dir);
});

afterAll(async () => {
  await store?.close();
  clusterDown(c);
});

const cli = (args: string[]): string[] => ['--store', address, '--munge-socket', c.mungeSocket, ...args];

/** Open a raw TCP connection and collect what the store sends until it closes. */
function raw(): Promise<{ socket: net.Socket; frames: Buffer[]; closed: Promise<void> }> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: Number(address.split(':')[1]) });
    const frames: Buffer[] = [];
    const decoder = new FrameDecoder();
    socket.on('data', (d) => frames.push(...decoder.push(d)));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.on('connect', () => resolve({ socket, frames, closed }));
  });
}

async function pingFrame(): Promise<Buffer> {
  const payload = JSON.stringify({ v: 1, op: 'ping', nonce: 'aaaaaaaaaaaaaaaa' });
  return encodeFrame(await mungeEncode(Buffer.from(payload), { socket: c.mungeSocket, uidRestriction: 0 }));
}

test('ping as root: the store authenticated uid 0', async () => {
  expect(await ping(config)).toEqual({ uid: 0, gid: 0, version: '0.1.0' });
  const r = await helperAsRoot(c, cli(['ping']));
  expect(r.stdout).toBe(`store ${address} answered; it authenticated you as uid 0 (version 0.1.0)\n`);
});

test('ping as a user: the store saw that user', async () => {
  const r = await helperAs(c, ALICE, cli(['ping']));
  expect(r.stdout).toBe(`store ${address} answered; it authenticated you as uid ${aliceUid} (version 0.1.0)\n`);
});

test('push as root is refused E_UID_REFUSED', async () => {
  const copy = join(c.dir, 'root-copy.ccache');
  fs.copyFileSync(ccacheOf(c, ALICE).slice(5), copy);
  const r = await helperAsRoot(c, cli(['push', '--ccache', `FILE:${copy}`, '--no-marker']));
  expect(r.status).toBe(31);
  expect(r.stderr).toContain('krb5bridge: E_UID_REFUSED: ');
  expect(r.stderr).toContain('uid 0 (root) may not store credentials');
  expect(log.join('\n')).toMatch(/op=push uid=0 result=E_UID_REFUSED/);
});

test('a user pushes their own TGT; root fetches exactly it', async () => {
  const r = await helperAs(c, ALICE, cli(['push', '--no-marker']));
  expect(r.stderr).toBe('');
  expect(r.stdout).toMatch(new RegExp(`^pushed ${ALICE}@${c.realm.replace('.', '\\.')} \\(expires \\d{4}-.*Z\\)\\n$`));
  const got = await fetchCreds(config, aliceUid);
  expect(got.principal).toBe(`${ALICE}@${c.realm}`);
  const parsed = parseKrbCred(got.krbcred);
  expect(parsed.principal).toBe(`${ALICE}@${c.realm}`);
  expect(parsed.tickets[0]!.server).toBe(`krbtgt/${c.realm}@${c.realm}`);
  // Durable on disk, 0600, and logged without ticket bytes.
  const file = join(join(c.dir, 'store-under-test', 'creds'), `${aliceUid}.json`);
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  const b64 = got.krbcred.toString('base64');
  expect(log.join('\n')).not.toContain(b64.slice(0, 40));
  expect(log.join('\n')).toMatch(new RegExp(`op=push uid=${aliceUid} principal=${ALICE}@\\S+ result=ok stored`));
  // The same ticket again is not fresher: kept.
  const again = await helperAs(c, ALICE, cli(['push', '--no-marker']));
  expect(again.stdout).toBe(`kept: store already holds a fresher ticket for ${ALICE}@${c.realm}\n`);
});

test("pushing someone else's ticket is refused E_PRINCIPAL_MISMATCH", async () => {
  // Bob holds a copy of Alice's ccache (as if stolen): the ticket maps to Alice, not Bob.
  const copy = join(c.dir, 'users', BOB, 'alice.ccache');
  fs.copyFileSync(ccacheOf(c, ALICE).slice(5), copy);
  const bobUid = Number(execFileSync('id', ['-u', BOB], { encoding: 'utf8' }).trim());
  fs.chownSync(copy, bobUid, bobUid);
  const r = await helperAs(c, BOB, cli(['push', '--ccache', `FILE:${copy}`, '--no-marker']));
  expect(r.status).toBe(30);
  expect(r.stderr).toContain(`E_PRINCIPAL_MISMATCH`);
  expect(r.stderr).toContain(`principal ${ALICE}@${c.realm} belongs to ${ALICE} (uid ${aliceUid}), but you are uid ${bobUid}`);
});

test('fetch as a non-root user is refused E_PERMISSION (the real client, run as that user)', async () => {
  const asBob = await clientAs(c, BOB, runner, ['fetchCreds', address, c.mungeSocket, String(aliceUid)]);
  expect(asBob).toMatchObject({ ok: false, code: 'E_PERMISSION' });
  expect(asBob.message).toContain('only root can');
  const asAlice = await clientAs(c, ALICE, runner, ['fetchCreds', address, c.mungeSocket, String(aliceUid)]);
  expect(asAlice.code).toBe('E_PERMISSION');
  const asRoot = await clientAs(c, 'root', runner, ['fetchCreds', address, c.mungeSocket, String(aliceUid)]);
  expect(asRoot).toEqual({ ok: true, result: { principal: `${ALICE}@${c.realm}` } });
});

test("a user sees only their own record; show of another uid is E_PERMISSION", async () => {
  const bobList = await helperAs(c, BOB, cli(['list', '--json']));
  expect(JSON.parse(bobList.stdout)).toEqual([]);
  const aliceList = await helperAs(c, ALICE, cli(['list', '--json']));
  expect(JSON.parse(aliceList.stdout).map((r: { uid: number }) => r.uid)).toEqual([aliceUid]);
  const bobShow = await helperAs(c, BOB, cli(['show', '--uid', String(aliceUid)]));
  expect(bobShow.status).toBe(32);
  expect(bobShow.stderr).toContain('E_PERMISSION');
  const bobRemove = await helperAs(c, BOB, cli(['remove', '--uid', String(aliceUid)]));
  expect(bobRemove.status).toBe(32);
  const rootShow = await helperAsRoot(c, cli(['show', '--uid', String(aliceUid), '--json']));
  expect(JSON.parse(rootShow.stdout)).toMatchObject({ uid: aliceUid, principal: `${ALICE}@${c.realm}` });
});

test('a replayed request frame is refused E_AUTH and the connection closed', async () => {
  const frame = await pingFrame();
  const first = await raw();
  first.socket.write(frame);
  await waitFor(() => first.frames.length === 1);
  first.socket.destroy();
  const second = await raw();
  second.socket.write(frame);
  await second.closed;
  expect(second.frames).toHaveLength(1);
  const answer = await mungeDecode(second.frames[0]!.toString('latin1'), { socket: c.mungeSocket });
  const body = JSON.parse(answer.payload.toString());
  expect(body).toMatchObject({ ok: false, code: 'E_AUTH', nonce: 'aaaaaaaaaaaaaaaa' });
  expect(body.message).toMatch(/replayed/i);
});

test('a 1 MiB + 1 frame is refused at its header and the connection closed', async () => {
  const r = await raw();
  const header = Buffer.alloc(4);
  header.writeUInt32BE(MAX_FRAME + 1);
  r.socket.write(header);
  await r.closed;
  expect(r.frames).toEqual([]);
  expect(log.join('\n')).toMatch(/E_TOO_LARGE: frame of 1048577 bytes announced/);
});

test('junk inside a valid munge credential gets E_PROTOCOL', async () => {
  const cred = await mungeEncode(Buffer.from('{"v":1,"op":"ping","nonce":"bbbbbbbbbbbbbbbb","__proto__":{"x":1}}'), { socket: c.mungeSocket, uidRestriction: 0 });
  const r = await raw();
  r.socket.write(encodeFrame(cred));
  await r.closed;
  const body = JSON.parse((await mungeDecode(r.frames[0]!.toString('latin1'), { socket: c.mungeSocket })).payload.toString());
  expect(body).toMatchObject({ ok: false, code: 'E_PROTOCOL', nonce: 'bbbbbbbbbbbbbbbb' });
});

test('idle and half-sent connections do not stall other clients; a slow frame is cut off', async () => {
  const fivePings = async (): Promise<number> => {
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) await ping(config);
    return Date.now() - t0;
  };
  const baseline = await fivePings(); // same pings, nothing else connected: this machine's pace now
  const idle = await Promise.all(Array.from({ length: 50 }, () => raw()));
  const slow = await raw();
  slow.socket.write(Buffer.from([0, 0, 1])); // 3 bytes of a header, then nothing
  const loaded = await fivePings();
  // Had the pings waited for the half-sent frame to be cut off (frameTimeoutMs = 500), they would
  // take at least 500 ms more than the baseline measured just before.
  expect(loaded - baseline).toBeLessThan(450);
  await slow.closed; // frameTimeoutMs = 500
  expect(log.join('\n')).toMatch(/no complete frame within 500 ms/);
  expect(idle.every((r) => !r.socket.destroyed)).toBe(true);
  idle.forEach((r) => r.socket.destroy());
});

test('several requests on one connection are answered in order', async () => {
  const r = await raw();
  const frames = await Promise.all([pingFrame(), pingFrame(), pingFrame()]);
  r.socket.write(Buffer.concat(frames));
  await waitFor(() => r.frames.length === 3);
  for (const f of r.frames) {
    const body = JSON.parse((await mungeDecode(f.toString('latin1'), { socket: c.mungeSocket })).payload.toString());
    expect(body).toMatchObject({ ok: true, uid: 0 });
  }
  r.socket.destroy();
});

test('remove: a user removes their own credential', async () => {
  const r = await helperAs(c, ALICE, cli(['remove']));
  expect(r.stdout).toBe(`removed the credential of uid ${aliceUid} (${ALICE}@${c.realm})\n`);
  expect(fs.existsSync(join(join(c.dir, 'store-under-test', 'creds'), `${aliceUid}.json`))).toBe(false);
  const again = await helperAs(c, ALICE, cli(['remove']));
  expect(again.status).toBe(33);
});

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('limits: past max connections new ones are closed with a log line; the buffer budget cuts off hoarders', async () => {
  const lines: string[] = [];
  const small = await build({
    listen: '127.0.0.1:0',
    stateDir: join(c.dir, 'store-small'),
    keyFile: join(c.dir, 'store-small.key'),
    minUid: 1000,
    mungeSocket: c.mungeSocket,
    maxConnections: 3,
    maxBufferedBytes: 100_000,
    log: (l) => void lines.push(l),
  });
  const port = (await small.listen()).port;
  const connect = (): Promise<{ socket: net.Socket; closed: Promise<void> }> =>
    new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.on('error', () => undefined);
      const closed = new Promise<void>((r) => socket.on('close', () => r()));
      socket.on('connect', () => resolve({ socket, closed }));
    });
  const held = [await connect(), await connect(), await connect()];
  await waitFor(() => small.connections() === 3);
  const extra = await connect();
  await extra.closed;
  expect(lines.join('\n')).toMatch(/connection limit 3 reached: refused 1 connection\(s\)/);
  // Two half-sent 60 kB frames exceed the 100 kB budget: the second sender is cut off.
  const header = Buffer.alloc(4);
  header.writeUInt32BE(200_000);
  held[0]!.socket.write(Buffer.concat([header, Buffer.alloc(60_000)]));
  await new Promise((r) => setTimeout(r, 50));
  held[1]!.socket.write(Buffer.concat([header, Buffer.alloc(60_000)]));
  await held[1]!.closed;
  expect(lines.join('\n')).toMatch(/bytes of incomplete frames \(limit 100000\)/);
  expect(held[0]!.socket.destroyed).toBe(false);
  held.forEach((h) => h.socket.destroy());
  await small.close();
});

test('close(): a request in flight is still answered; idle connections are closed; close resolves', async () => {
  let handled: () => void = () => undefined;
  const inFlight = new Promise<void>((r) => (handled = r));
  // The handler's log line comes before the answer is munge-encoded and sent: close() then is mid-request.
  const s2 = await build({ listen: '127.0.0.1:0', stateDir: join(c.dir, 'store-close'), keyFile: join(c.dir, 'store-close.key'), minUid: 1000, mungeSocket: c.mungeSocket, log: (l) => (l.startsWith('op=ping') ? handled() : undefined) });
  const port = (await s2.listen()).port;
  const open = (): Promise<{ socket: net.Socket; frames: Buffer[]; closed: Promise<void> }> =>
    new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      const frames: Buffer[] = [];
      const d = new FrameDecoder();
      socket.on('data', (b) => frames.push(...d.push(b)));
      socket.on('error', () => undefined);
      const closed = new Promise<void>((r) => socket.on('close', () => r()));
      socket.on('connect', () => resolve({ socket, frames, closed }));
    });
  const idle = await open();
  const busy = await open();
  busy.socket.write(await pingFrame());
  await inFlight;
  const closing = s2.close();
  await busy.closed;
  await idle.closed;
  await closing;
  expect(busy.frames).toHaveLength(1);
  const body = JSON.parse((await mungeDecode(busy.frames[0]!.toString('latin1'), { socket: c.mungeSocket })).payload.toString());
  expect(body).toMatchObject({ ok: true, uid: 0 });
  expect(idle.frames).toHaveLength(0);
});
