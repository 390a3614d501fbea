/**
 * The store survives kill -9 in the middle of pushes: every push it acknowledged is there after a
 * restart, every stored credential is whole, nothing half-written is loaded.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, TESTCLUSTER, User, clusterForFile, waitFor } from '../lib/cluster';

let c: Cluster;
const users: User[] = [];

const cluster = clusterForFile();

beforeAll(() => {
  c = cluster.get();
  for (let i = 0; i < 4; i++) {
    const u = c.adduser(`kbcrash${i}`);
    c.kinit(u.name);
    users.push(u);
  }
});

/** Push as a user in a loop until stopped; resolves with the number of acknowledged pushes. */
function pushLoop(u: User, stop: { now: boolean }): Promise<{ acked: number; lastCode: number }> {
  return new Promise((resolve) => {
    let acked = 0;
    const once = (): void => {
      const p = spawn(TESTCLUSTER, ['as', u.name, '--dir', c.dir, '--', ...c.helper, 'push', '--force', '--no-marker', '--timeout', '2'], { stdio: 'ignore' });
      p.on('exit', (code) => {
        if (code === 0) acked++;
        if (stop.now) resolve({ acked, lastCode: code ?? 128 });
        else once();
      });
    };
    once();
  });
}

test('kill -9 during concurrent pushes loses no acknowledged credential and corrupts none', async () => {
  const stop = { now: false };
  const loops = users.map((u) => pushLoop(u, stop));
  // Let pushes flow, then kill the store while they are in flight.
  await new Promise((r) => setTimeout(r, 3_000));
  c.storeStop('KILL');
  stop.now = true;
  const results = await Promise.all(loops);
  expect(results.reduce((n, r) => n + r.acked, 0)).toBeGreaterThan(0);

  c.storeStart();
  await waitFor(() => c.root([...c.helper, 'ping', '--config', c.bridgeConfig]).code === 0, 10_000, 'the store to answer again');
  users.forEach((u, i) => {
    const show = c.root([...c.helper, 'show', '--uid', String(u.uid), '--json', '--config', c.bridgeConfig]);
    if ((results[i] as { acked: number }).acked > 0) {
      expect(show.code).toBe(0);
      expect(JSON.parse(show.stdout).principal).toBe(`${u.name}@${c.realm}`);
    }
  });
  // Only whole credential files in the store's directory: <uid>.json, nothing else loaded.
  const names = readdirSync(join(c.storeState, 'creds'));
  for (const n of names.filter((n) => !n.startsWith('.'))) expect(n).toMatch(/^\d+\.json$/);
  // And a job still gets its credential from the restarted store.
  const r = c.as((users[0] as User).name, ['srun', '-N1', 'klist', '-s']);
  expect(r.code).toBe(0);
}, 60_000);
