/**
 * The client: push marker files, connection failures, and authentication of the store's answer
 * (a real munged; the "stores" here are small servers that answer wrongly on purpose).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { StoreSession, ping } from '../../../helper/src/client/client';
import { Store, build } from '../../../helper/src/server/store';
import { markerLine, markerPath, writeMarker } from '../../../helper/src/client/marker';
import { Config, defaultConfig } from '../../../helper/src/config/config';
import { Krb5BridgeError } from '../../../helper/src/errors';
import { mungeDecode, mungeEncode } from '../../../helper/src/munge';
import { FrameDecoder, encodeFrame } from '../../../helper/src/wire/frame';
import { Cluster, clusterDown, clusterUp } from '../../lib/store';
import { failure } from '../../lib/failure';

let c: Cluster;
let dir: string;
beforeAll(() => {
  c = clusterUp();
});
afterAll(() => clusterDown(c));
beforeEach(() => {
  dir = fs.mkdtempSync(join(c.dir, 'markers-'));
});

describe('push marker', () => {
  const tgt = { authtime: 1795335888, endtime: 1795371888, renew_till: 1795940688 };

  test('the line is exactly what the C plugin compares', () => {
    expect(markerLine('127.0.0.1:7386', 'alice@EXAMPLE.ORG', tgt)).toBe('v1 127.0.0.1:7386 alice@EXAMPLE.ORG 1795335888 1795371888 1795940688\n');
  });

  test('written 0600, owned by us, no temporary file left; rewritten in place', async () => {
    expect(await writeMarker(dir, 0, 'v1 first\n')).toBe(true);
    expect(await writeMarker(dir, 0, 'v1 second\n')).toBe(true);
    const path = markerPath(dir, 0);
    expect(fs.readFileSync(path, 'utf8')).toBe('v1 second\n');
    const st = fs.lstatSync(path);
    expect(st.mode & 0o7777).toBe(0o600);
    expect(st.uid).toBe(0);
    expect(fs.readdirSync(dir)).toEqual(['krb5bridge_pushed_0']);
  });

  test('a symlink planted at the marker path is left alone (skipped, not followed)', async () => {
    const target = join(dir, 'victim');
    fs.writeFileSync(target, 'precious\n');
    fs.symlinkSync(target, markerPath(dir, 0));
    expect(await writeMarker(dir, 0, 'v1 x\n')).toBe(false);
    expect(fs.readFileSync(target, 'utf8')).toBe('precious\n');
    expect(fs.lstatSync(markerPath(dir, 0)).isSymbolicLink()).toBe(true);
  });

  test("a marker owned by someone else is left alone", async () => {
    fs.writeFileSync(markerPath(dir, 0), 'v1 theirs\n');
    fs.chownSync(markerPath(dir, 0), 65534, 65534);
    expect(await writeMarker(dir, 0, 'v1 mine\n')).toBe(false);
    expect(fs.readFileSync(markerPath(dir, 0), 'utf8')).toBe('v1 theirs\n');
  });

  test('an unwritable marker directory is skipped, not fatal', async () => {
    expect(await writeMarker(join(dir, 'missing'), 0, 'v1 x\n')).toBe(false);
  });
});

describe('connection failures', () => {
  const config = (store: string, timeout = 10): Config => ({ ...defaultConfig(), store, munge_socket: c.mungeSocket, timeout });

  test('nothing listening: E_STORE_UNREACHABLE naming the address', async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise((r) => s.close(r));
    const e = await failure(ping(config(`127.0.0.1:${port}`)));
    expect(e.code).toBe('E_STORE_UNREACHABLE');
    expect(e.message).toContain(`cannot connect to 127.0.0.1:${port}: ECONNREFUSED`);
  });

  test('a store that never answers: E_STORE_TIMEOUT within the timeout', async () => {
    const { server, address } = await fakeStore(() => undefined);
    const t0 = Date.now();
    const e = await failure(ping(config(address, 0.5)));
    const elapsed = Date.now() - t0;
    expect(e.code).toBe('E_STORE_TIMEOUT');
    expect(e.message).toContain(`store ${address} sent no answer within 0.5 s`);
    // It waited for the configured 0.5 s, and gave up well before the default 10 s timeout (the
    // fake store never answers, so without a working timeout the ping would never end); the
    // margin is for a loaded machine, not a speed requirement.
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(5_000);
    server.close();
  });

  test('a store that hangs up: E_STORE_CLOSED saying so', async () => {
    const { server, address } = await fakeStore((_req, sock) => void sock.destroy());
    const e = await failure(ping(config(address)));
    expect(e.code).toBe('E_STORE_CLOSED');
    expect(e.message).toContain(`store ${address} closed the connection without answering (restarting? see the store's log)`);
    server.close();
  });
});

describe('several stores: failover', () => {
  let store: Store;
  let real: string;
  const config = (list: string[], timeout = 4): Config => ({ ...defaultConfig(), store: list.join(','), munge_socket: c.mungeSocket, timeout });
  /** A port where nothing listens. */
  async function deadAddress(): Promise<string> {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    const a = `127.0.0.1:${(s.address() as net.AddressInfo).port}`;
    await new Promise((r) => s.close(r));
    return a;
  }
  /** Ping through a session that tries `list` from its first entry; returns the answer and how long it took. */
  async function timedPing(list: string[], timeout = 4): Promise<{ ms: number; uid: number }> {
    const s = new StoreSession(config(list, timeout), undefined, { start: 0 });
    const t0 = Date.now();
    try {
      const r = await s.request({ op: 'ping' });
      return { ms: Date.now() - t0, uid: r.uid as number };
    } finally {
      s.close();
    }
  }

  beforeAll(async () => {
    store = await build({ listen: '127.0.0.1:0', stateDir: join(c.dir, 'failover-store'), keyFile: join(c.dir, 'failover-store.key'), minUid: 1000, mungeSocket: c.mungeSocket, idleTimeoutMs: 300, log: () => undefined });
    real = `127.0.0.1:${(await store.listen()).port}`;
  });
  afterAll(() => store?.close());

  test('a dead store first: the next one answers at once', async () => {
    const r = await timedPing([await deadAddress(), real]);
    expect(r.uid).toBe(0);
    // A refused connection costs a round trip, not the dead store's share (2 s); generous bound for a loaded machine.
    expect(r.ms).toBeLessThan(1_500);
  });

  test('a hung store first costs at most its share of the timeout, then the next one answers', async () => {
    let seen = 0;
    const { server, address } = await fakeStore(() => void seen++);
    const r = await timedPing([address, real], 2);
    expect(seen).toBe(1); // the hung store did get the request
    expect(r.uid).toBe(0);
    // Its share is 1 s of the 2 s timeout: it waited that long for the hung store, and no longer
    // (the upper bound is loose for a loaded machine, still below the whole timeout).
    expect(r.ms).toBeGreaterThanOrEqual(950);
    expect(r.ms).toBeLessThan(1_900);
    server.close();
  });

  test('every store failing: the error names each store tried and why', async () => {
    const dead = await deadAddress();
    const { server, address: hung } = await fakeStore(() => undefined);
    const { server: closer, address: closing } = await fakeStore((_r, sock) => void sock.destroy());
    const e = await failure(new StoreSession(config([dead, hung, closing], 1.5), undefined, { start: 0 }).request({ op: 'ping' }));
    expect(e.code).toBe('E_STORE_CLOSED');
    expect(e.message).toContain(`: no store could answer; tried ${dead} (E_STORE_UNREACHABLE: cannot connect to ${dead}: ECONNREFUSED), ${hung} (E_STORE_TIMEOUT: store ${hung} sent no answer within `);
    // The dead store failed at once, so the hung one had about half of the 1.5 s left, not a third.
    expect(e.message).toMatch(/sent no answer within 0\.[67] s\), /);
    expect(e.message).toContain(`), ${closing} (E_STORE_CLOSED: store ${closing} closed the connection without answering`);
    server.close();
    closer.close();
  });

  test("a store's own refusal is the answer: the next store is not asked", async () => {
    let asked = 0;
    const { server, address } = await fakeStore(() => void asked++);
    const e = await failure(new StoreSession(config([real, address]), undefined, { start: 0 }).request({ op: 'show', uid: 4242 }));
    expect(e.code).toBe('E_NOT_FOUND');
    expect(e.message).toContain(`store ${real}: `);
    expect(asked).toBe(0);
    server.close();
  });

  test('a kept connection the store closed while idle is opened again for the next request', async () => {
    const s = new StoreSession(config([real]), undefined, { start: 0 });
    try {
      expect((await s.request({ op: 'ping' })).uid).toBe(0);
      // The store's idle timeout here is 300 ms: it closes the session's connection.
      await waitUntil(() => store.connections() === 0, 5_000);
      expect((await s.request({ op: 'ping' })).uid).toBe(0);
    } finally {
      s.close();
    }
  });

  test('concurrent requests on one session queue: each gets its own answer', async () => {
    const s = new StoreSession(config([real]), undefined, { start: 0 });
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => s.request({ op: 'ping' })));
      expect(answers.map((a) => a.uid)).toEqual(Array(20).fill(0));
      expect(store.connections()).toBe(1);
    } finally {
      s.close();
    }
  });
});

async function waitUntil(fn: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('authentication of the store', () => {
  const config = (store: string): Config => ({ ...defaultConfig(), store, munge_socket: c.mungeSocket, timeout: 5 });

  test('an answer munged by another uid than store_uid is refused E_AUTH', async () => {
    const { server, address } = await fakeStore(async (req, sock) => {
      const nonce = JSON.parse(req.toString()).nonce;
      const body = JSON.stringify({ v: 1, nonce, ok: true, uid: 0, gid: 0, version: 'evil' });
      // A local user (nobody) impersonating the store: a valid munge credential, wrong uid.
      const cred = execFileSync('runuser', ['-u', 'nobody', '--', 'munge', '-S', c.mungeSocket, '-s', body], { encoding: 'utf8' }).trim();
      sock.write(encodeFrame(cred));
    });
    const e = await failure(ping(config(address)));
    expect(e.code).toBe('E_AUTH');
    expect(e.message).toContain(`the answer of ${address} was made by uid 65534, not store_uid 0`);
    server.close();
  });

  test('an answer carrying another nonce is refused E_AUTH', async () => {
    const { server, address } = await fakeStore(async (_req, sock) => {
      const body = JSON.stringify({ v: 1, nonce: 'ffffffffffffffff', ok: true, uid: 0, gid: 0, version: 'x' });
      sock.write(encodeFrame(await mungeEncode(Buffer.from(body), { socket: c.mungeSocket })));
    });
    const e = await failure(ping(config(address)));
    expect(e.code).toBe('E_AUTH');
    expect(e.message).toContain("does not carry this request's nonce");
    server.close();
  });

  test('the request is restricted to store_uid: only that uid can read it', async () => {
    let seen: Krb5BridgeError | undefined;
    const { server, address } = await fakeStore(
      (_req, sock) => void sock.destroy(),
      async (cred) => {
        // Restricted to uid 1 (daemon): root, here, must not be able to decode it.
        seen = await failure(mungeDecode(cred, { socket: c.mungeSocket }));
      },
    );
    await failure(ping({ ...config(address), store_uid: 1 }));
    expect(seen?.code).toBe('E_AUTH');
    expect(seen?.message).toMatch(/munge error 18/);
    server.close();
  });
});

/** A TCP server that decodes each request (as root) and lets `answer` respond. */
async function fakeStore(
  answer: (payload: Buffer, sock: net.Socket) => void | Promise<void>,
  raw?: (cred: string) => Promise<void>,
): Promise<{ server: net.Server; address: string }> {
  const server = net.createServer((sock) => {
    const d = new FrameDecoder();
    sock.on('error', () => undefined);
    sock.on('data', async (chunk) => {
      for (const f of d.push(chunk)) {
        if (raw) {
          await raw(f.toString('latin1'));
          await answer(Buffer.alloc(0), sock);
          continue;
        }
        const decoded = await mungeDecode(f.toString('latin1'), { socket: c.mungeSocket });
        await answer(decoded.payload, sock);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, address: `127.0.0.1:${(server.address() as net.AddressInfo).port}` };
}
