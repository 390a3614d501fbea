/**
 * kill -9 of the store during pushes loses nothing acknowledged: a real `krb5bridge serve`
 * process, two users pushing in tight loops through the real client, SIGKILL mid-stream, restart
 * on the same state directory.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fetchCreds } from '../../../helper/src/client/client';
import { defaultConfig } from '../../../helper/src/config/config';
import { parseKrbCred } from '../../../helper/src/krb5';
import { Cluster, bundleClientRunner, ccacheOf, clusterDown, clusterUp, runnerEnv, userWithTicket } from '../../lib/store';

let c: Cluster;
const procs: ChildProcess[] = [];

beforeAll(() => {
  c = clusterUp();
});
afterAll(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  clusterDown(c);
});

function startStore(state: string, log: string): Promise<{ proc: ChildProcess; address: string }> {
  const fd = fs.openSync(log, 'a');
  const proc = spawn(process.execPath, [c.helper, 'serve', '--listen', '127.0.0.1:0', '--state-dir', state, '--munge-socket', c.mungeSocket, '--key-file', join(c.dir, 'crash-store.key'), '--job-bound', 'no'], {
    env: { PATH: '/usr/bin:/bin', KRB5_CONFIG: c.krb5Config },
    stdio: ['ignore', 'ignore', fd],
  });
  procs.push(proc);
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const poll = setInterval(() => {
      const text = fs.readFileSync(log, 'utf8');
      const m = /listening on (127\.0\.0\.1:\d+)/.exec(text);
      if (m) {
        clearInterval(poll);
        resolve({ proc, address: m[1]! });
      } else if (Date.now() - t0 > 10_000 || proc.exitCode !== null) {
        clearInterval(poll);
        reject(new Error(`store did not start: ${text}`));
      }
    }, 25);
  });
}

test('a pushed and acknowledged credential survives kill -9; no temporary file is loaded', async () => {
  const users = ['tcstore', 'tcstore2'];
  const uids = users.map((u) => userWithTicket(c, u));
  const runner = bundleClientRunner(c.dir);
  const state = join(c.dir, 'crash-state');
  const log = join(c.dir, 'crash-store.log');
  const first = await startStore(state, log);

  // Each user pushes as fast as it can; every "ack N" line is a push the store acknowledged.
  const acks = users.map(() => 0);
  const loops = users.map((u, i) => {
    const p = spawn(
      'runuser',
      ['-u', u, '--', ...runnerEnv(c, [`KRB5_CONFIG=${c.krb5Config}`, `KRB5CCNAME=${ccacheOf(c, u)}`]), process.execPath, runner, 'pushLoop', first.address, c.mungeSocket],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    procs.push(p);
    p.stdout!.on('data', (d: Buffer) => {
      const m = [...d.toString().matchAll(/ack (\d+)/g)];
      if (m.length) acks[i] = Number(m[m.length - 1]![1]);
    });
    return new Promise<string>((resolve) => p.stdout!.on('end', () => resolve(u)));
  });
  // Let both loops get going, then kill the store in the middle of the stream.
  // Not a speed requirement: the loop ends at 20 acks each (about a second here); the deadline only
  // bounds a broken run, generously for a loaded machine.
  const t0 = Date.now();
  while (acks.some((n) => n < 20) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 20));
  first.proc.kill('SIGKILL');
  await Promise.all(loops);
  expect(acks.every((n) => n >= 20)).toBe(true);

  // Whatever a crash left behind, the restarted store loads exactly one good record per user.
  const log2 = join(c.dir, 'crash-store-restarted.log');
  const second = await startStore(state, log2);
  const text = fs.readFileSync(log2, 'utf8');
  expect(text).toMatch(/loaded 2 credential\(s\)/);
  expect(text).not.toMatch(/corrupt record/);
  expect(fs.readdirSync(join(state, 'corrupt'))).toEqual([]);
  expect(fs.readdirSync(join(state, 'creds')).sort()).toEqual(uids.map((u) => `${u}.json`).sort());
  const config = { ...defaultConfig(), store: second.address, munge_socket: c.mungeSocket, timeout: 5 };
  for (const [i, u] of users.entries()) {
    const got = await fetchCreds(config, uids[i]!);
    expect(parseKrbCred(got.krbcred).principal).toBe(`${u}@${c.realm}`);
  }
  second.proc.kill('SIGTERM');
  await new Promise((r) => second.proc.once('exit', r));
  expect(second.proc.exitCode).toBe(0);
  expect(fs.readFileSync(log2, 'utf8')).toMatch(/SIGTERM: no new connections; finishing requests in flight[\s\S]*stopped/);
});

test('a temporary file planted in creds/ is removed at start, not loaded', async () => {
  const state = join(c.dir, 'crash-state');
  const planted = join(state, 'creds', '.4242.json.0123456789ab.tmp');
  fs.writeFileSync(planted, '{"uid":4242,"principal":"x@Y","endtime":9999999999', { mode: 0o600 });
  const log = join(c.dir, 'crash-store2.log');
  const s = await startStore(state, log);
  const text = fs.readFileSync(log, 'utf8');
  expect(text).toContain(`removed leftover temporary file ${planted}`);
  expect(text).toMatch(/loaded 2 credential\(s\)/);
  expect(fs.existsSync(planted)).toBe(false);
  s.proc.kill('SIGTERM');
  await new Promise((r) => s.proc.once('exit', r));
});
