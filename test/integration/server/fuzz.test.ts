/**
 * Fuzz of the store's wire protocol: >= 100,000 malformed, truncated, oversized, random and
 * mutated-valid messages against a real `krb5bridge serve` process (real munged; munge in the
 * loop for the JSON layer), 64 at a time. The store must not crash or hang, its memory must stay
 * bounded, and a real client must be served all along and after. Seeded: FUZZ_SEED=N reproduces.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { ping } from '../../../helper/src/client/client';
import { defaultConfig } from '../../../helper/src/config/config';
import { mungeEncode } from '../../../helper/src/munge';
import { FrameDecoder, MAX_FRAME } from '../../../helper/src/wire/frame';
import { Cluster, clusterDown, clusterUp } from '../../lib/store';

const SEED = Number(process.env.FUZZ_SEED ?? 20240611);
const TOTAL = 100_000;
const PARALLEL = 96;

/** mulberry32: small, fast, and the same sequence for the same seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let c: Cluster;
let proc: ChildProcess;
let port: number;

beforeAll(async () => {
  c = clusterUp();
  const log = join(c.dir, 'fuzz-store.log');
  const fd = fs.openSync(log, 'a');
  proc = spawn(process.execPath, [c.helper, 'serve', '--listen', '127.0.0.1:0', '--state-dir', join(c.dir, 'fuzz-state'), '--munge-socket', c.mungeSocket, '--key-file', join(c.dir, 'fuzz.key'), '--job-bound', 'no', '--audit-log', join(c.dir, 'fuzz-audit.log')], {
    env: { PATH: '/usr/bin:/bin', KRB5_CONFIG: c.krb5Config },
    stdio: ['ignore', 'ignore', fd],
  });
  const t0 = Date.now();
  for (;;) {
    const m = /listening on 127\.0\.0\.1:(\d+)/.exec(fs.readFileSync(log, 'utf8'));
    if (m) {
      port = Number(m[1]);
      break;
    }
    if (Date.now() - t0 > 10_000 || proc.exitCode !== null) throw new Error(`store did not start: ${fs.readFileSync(log, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 25));
  }
});

afterAll(() => {
  if (proc && proc.exitCode === null) proc.kill('SIGKILL');
  clusterDown(c);
});

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]);
}

const header = (n: number): Buffer => {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(n >>> 0);
  return h;
};

/** What to send, and whether to close right after (a truncated frame) or wait for the store. */
interface Message {
  bytes: Buffer;
  hangUp: boolean;
  kind: string;
}

function makeGenerator(rand: () => number, validCreds: string[], jsonCreds: string[]): () => Message {
  const int = (n: number): number => Math.floor(rand() * n);
  const bytes = (n: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = int(256);
    return b;
  };
  const mutate = (s: string): Buffer => {
    const b = Buffer.from(s, 'latin1');
    switch (int(4)) {
      case 0: // flip bits
        for (let k = 0; k < 1 + int(4); k++) b[int(b.length)] ^= 1 << int(8);
        return b;
      case 1: // cut
        return b.subarray(0, 1 + int(b.length - 1));
      case 2: // splice random bytes in
        return Buffer.concat([b.subarray(0, int(b.length)), bytes(1 + int(40)), b.subarray(int(b.length))]);
      default: // duplicate a chunk
        return Buffer.concat([b, b.subarray(int(b.length))]);
    }
  };
  return () => {
    const kind = int(100);
    if (kind < 10) return { bytes: header(0), hangUp: false, kind: 'zero' }; // zero length
    if (kind < 20) return { bytes: Buffer.concat([header(MAX_FRAME + 1 + int(2 ** 31)), bytes(int(64))]), hangUp: false, kind: 'oversized' };
    if (kind < 40) {
      // truncated: the header promises more than comes, then the client goes away
      const n = 2 + int(5000);
      return { bytes: Buffer.concat([header(n), bytes(int(n - 1))]).subarray(0, 1 + int(n + 3)), hangUp: true, kind: 'truncated' };
    }
    if (kind < 60) return { bytes: bytes(1 + int(300)), hangUp: true, kind: 'noise' };
    if (kind < 75) {
      const body = bytes(1 + int(2000));
      return { bytes: Buffer.concat([header(body.length), body]), hangUp: false, kind: 'framed-noise' };
    }
    if (kind < 92) {
      const body = mutate(validCreds[int(validCreds.length)]!); // a real credential, damaged
      return { bytes: Buffer.concat([header(body.length), body]), hangUp: false, kind: 'mutated-cred' };
    }
    // a valid credential (fresh: munge refuses replays) around malformed JSON
    const cred = jsonCreds.pop();
    if (cred === undefined) return { bytes: header(0), hangUp: false, kind: 'zero' };
    const body = Buffer.from(cred, 'latin1');
    return { bytes: Buffer.concat([header(body.length), body]), hangUp: false, kind: 'bad-json' };
  };
}

/**
 * Send one message; resolves 'closed' when the store answered or closed the connection, 'hung' after 20 s
 * (past the store's own 10 s frame timeout: munged under this load may make one answer slow, never
 * a connection immortal).
 */
let slowest = 0;
function sendOne(m: Message): Promise<'closed' | 'hung' | 'error'> {
  const decoder = new FrameDecoder();
  const t0 = Date.now();
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve('hung');
    }, 20_000);
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      slowest = Math.max(slowest, Date.now() - t0);
      resolve('closed');
    });
    s.on('connect', () => {
      if (m.hangUp) s.end(m.bytes);
      else s.write(m.bytes);
    });
    // A mutation can leave a valid request (say, a fetch of another uid): its answer ends the exchange.
    s.on('data', (d: Buffer) => {
      try {
        if (decoder.push(d).length > 0) s.destroy();
      } catch {
        s.destroy();
      }
    });
  });
}

/** Malformed JSON payloads inside valid munge credentials: the JSON layer, with munge in the loop. */
async function jsonCredentials(rand: () => number, n: number): Promise<string[]> {
  const valid = JSON.stringify({ v: 1, op: 'fetch', nonce: '0123456789abcdef', uid: 1001, job: '42' });
  const payloads = [
    '', '{', 'null', '[]', '"x"', '{"v":1}', '{"v":2,"op":"ping","nonce":"0123456789abcdef"}', '{"v":1,"op":"exec","nonce":"0123456789abcdef"}',
    '{"v":1,"op":"fetch","nonce":"0123456789abcdef","uid":-1}', '{"v":1,"op":"fetch","nonce":"0123456789abcdef","uid":1001,"job":"1; rm -rf /"}',
    '{"v":1,"op":"push","nonce":"0123456789abcdef","creds":"!!!"}', '{"__proto__":{"admin":true},"v":1,"op":"list","nonce":"0123456789abcdef"}',
    '{"v":1,"op":"fetch","nonce":"0123456789abcdef","uid":1e400}', '{"v":1,"op":"fetch","nonce":"0123456789abcdef","uid":1001,"job":42}',
  ];
  const out: string[] = [];
  const all: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    let p: string;
    if (i < payloads.length) p = payloads[i]!;
    else {
      const b = Buffer.from(valid);
      for (let k = 0; k < 1 + Math.floor(rand() * 3); k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 128);
      p = b.toString('latin1');
    }
    all.push(mungeEncode(Buffer.from(p, 'latin1'), { socket: c.mungeSocket, uidRestriction: 0 }).then((cr) => void out.push(cr)));
  }
  await Promise.all(all);
  return out;
}

test(`${TOTAL} hostile messages (seed ${SEED}): no crash, no hang, bounded memory, real clients served`, async () => {
  const rand = prng(SEED);
  const validCreds = await Promise.all(Array.from({ length: 50 }, () => mungeEncode(Buffer.from(JSON.stringify({ v: 1, op: 'ping', nonce: 'aaaaaaaaaaaaaaaa' })), { socket: c.mungeSocket, uidRestriction: 0 })));
  const jsonCreds = await jsonCredentials(rand, 3000);
  const next = makeGenerator(rand, validCreds, jsonCreds);
  const config = { ...defaultConfig(), store: `127.0.0.1:${port}`, munge_socket: c.mungeSocket, timeout: 5 };

  // A real client pings all along; every ping must be answered.
  let pings = 0;
  const pingFailures: string[] = [];
  let fuzzing = true;
  const pinger = (async () => {
    while (fuzzing) {
      try {
        expect((await ping(config)).uid).toBe(0);
        pings++;
      } catch (e) {
        pingFailures.push((e as Error).message);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  const counts = { closed: 0, hung: 0, error: 0 };
  const hungKinds: string[] = [];
  let sent = 0;
  let rssBefore = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (sent < TOTAL) {
        sent++;
        if (sent === 5_000) rssBefore = rssKiB(proc.pid!); // after warm-up: heap and pools sized
        const m = next();
        const r = await sendOne(m);
        counts[r]++;
        if (r !== 'closed') hungKinds.push(`${m.kind}:${m.bytes.length}:${m.bytes.subarray(0, 12).toString('hex')}`);
      }
    }),
  );
  const seconds = (Date.now() - t0) / 1000;
  fuzzing = false;
  await pinger;
  // Let the store drop what it still holds, then measure.
  await new Promise((r) => setTimeout(r, 500));
  const rssAfter = rssKiB(proc.pid!);
  process.stdout.write(`fuzz: ${sent} messages in ${seconds.toFixed(1)} s (${Math.round(sent / seconds)}/s), ${pings} pings ok, RSS ${rssBefore} -> ${rssAfter} KiB, slowest message ${slowest} ms, seed ${SEED}\n`);

  expect(proc.exitCode).toBeNull();
  expect(hungKinds.slice(0, 10)).toEqual([]);
  expect(counts).toEqual({ closed: TOTAL, hung: 0, error: 0 });
  expect(pingFailures).toEqual([]);
  expect(pings).toBeGreaterThan(10);
  expect(rssAfter - rssBefore).toBeLessThan(64 * 1024);
  // And after: still served, and the audit log recorded refusals without a credential in it.
  expect((await ping(config)).uid).toBe(0);
  const audit = fs.readFileSync(join(c.dir, 'fuzz-audit.log'), 'utf8');
  expect(audit).toMatch(/"op":"\?","result":"refused","code":"E_AUTH"/);
  expect(audit).not.toContain('MUNGE:');
}, 120_000);
