/**
 * Prometheus metrics on the real cluster (`up --metrics`): scraped with curl from the store and
 * the keeper, the counters move with pushes, fetches, refusals, job ccaches and renewals, and
 * promtool (Debian's prometheus package) accepts every scrape. The realm issues 1-minute tickets,
 * so the store renews within about 30 s of a push.
 */
import { spawnSync } from 'node:child_process';
import { Cluster, User, clusterForFile, waitFor } from '../lib/cluster';
import { promtool, scrape as scrapeAt, value } from '../lib/metrics';

const cluster = clusterForFile({ metrics: true, ticketLifetime: '1m', renewLifetime: '10m' });
let c: Cluster;
let alice: User;
let bob: User;

function scrape(which: 'TC_STORE_METRICS' | 'TC_KEEPER_METRICS'): string {
  return scrapeAt(c.env[which]!);
}

beforeAll(() => {
  c = cluster.get();
  alice = c.adduser('metalice');
  bob = c.adduser('metbob');
  c.kinit(alice.name);
});

test('the metrics endpoints listen on loopback only and answer nothing but /metrics', () => {
  expect(c.env.TC_STORE_METRICS).toMatch(/^127\.0\.0\.1:\d+$/);
  const r = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${c.env.TC_STORE_METRICS}/`], { encoding: 'utf8' });
  expect(r.stdout).toBe('404');
  const post = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', `http://${c.env.TC_KEEPER_METRICS}/metrics`], { encoding: 'utf8' });
  expect(post.stdout).toBe('405');
});

test('store counters move with pushes, refusals and fetches; the keeper counts job ccaches', async () => {
  const before = scrape('TC_STORE_METRICS');
  const pushed = c.as(alice.name, [...c.helper, 'push', '--no-marker']);
  expect(pushed.code).toBe(0);
  // A refusal: bob asks to remove alice's credential (users may act only on their own).
  const refused = c.as(bob.name, [...c.helper, 'remove', '--uid', String(alice.uid)]);
  expect(refused.stderr).toMatch(/E_PERMISSION/);
  let after = scrape('TC_STORE_METRICS');
  expect(value(after, 'krb5bridge_store_requests_total{op="push",result="ok"}')).toBe(value(before, 'krb5bridge_store_requests_total{op="push",result="ok"}') + 1);
  expect(value(after, 'krb5bridge_store_requests_total{op="remove",result="E_PERMISSION"}')).toBe(value(before, 'krb5bridge_store_requests_total{op="remove",result="E_PERMISSION"}') + 1);
  expect(value(after, 'krb5bridge_store_credentials')).toBe(1);
  // Renewable for 10 minutes: its last valid moment is within both windows.
  expect(value(after, 'krb5bridge_store_credentials_expiring{within="1h"}')).toBe(1);
  expect(value(after, 'krb5bridge_store_credentials_expiring{within="24h"}')).toBe(1);
  expect(value(after, 'krb5bridge_store_request_duration_seconds_count{op="push"}')).toBeGreaterThanOrEqual(1);

  // A job: the keeper materialises it (a fetch at the store), and manages its ccache while it runs.
  const k0 = scrape('TC_KEEPER_METRICS');
  const job = c.as(alice.name, ['sbatch', '--parsable', '-o', '/dev/null', '--wrap', 'sleep 8']);
  expect(job.code).toBe(0);
  const id = job.stdout.trim();
  await waitFor(() => value(scrape('TC_KEEPER_METRICS'), 'krb5bridge_keeper_job_ccaches') === 1, 30_000, 'the keeper to manage the job ccache');
  const k1 = scrape('TC_KEEPER_METRICS');
  expect(value(k1, 'krb5bridge_keeper_requests_total{op="materialise",result="ok"}')).toBe(value(k0, 'krb5bridge_keeper_requests_total{op="materialise",result="ok"}') + 1);
  after = scrape('TC_STORE_METRICS');
  expect(value(after, 'krb5bridge_store_requests_total{op="fetch",result="ok"}')).toBe(value(before, 'krb5bridge_store_requests_total{op="fetch",result="ok"}') + 1);
  await c.waitJob(id, 60_000);
  await waitFor(() => value(scrape('TC_KEEPER_METRICS'), 'krb5bridge_keeper_job_ccaches') === 0, 30_000, 'the job ccache to be destroyed');
  expect(value(scrape('TC_KEEPER_METRICS'), 'krb5bridge_keeper_requests_total{op="destroy",result="ok"}')).toBeGreaterThanOrEqual(1);
  expect(value(scrape('TC_KEEPER_METRICS'), 'krb5bridge_keeper_cycles_total')).toBeGreaterThan(value(k0, 'krb5bridge_keeper_cycles_total'));
}, 120_000);

test('renewals are counted as the store renews at the KDC', async () => {
  // alice's 1-minute ticket (pushed above) is renewed about 30 s after it was stored.
  await waitFor(() => value(scrape('TC_STORE_METRICS'), 'krb5bridge_store_renewals_total{result="ok"}') >= 1, 90_000, 'a renewal to be counted', 1000);
  const m = scrape('TC_STORE_METRICS');
  expect(value(m, 'krb5bridge_store_renewals_total{result="failed"}')).toBe(0);
}, 120_000);

test('promtool accepts both scrapes', () => {
  for (const which of ['TC_STORE_METRICS', 'TC_KEEPER_METRICS'] as const) {
    const text = scrape(which);
    expect(text).toMatch(/^krb5bridge_info\{daemon="(store|keeper)",version="[^"]+"\} 1$/m);
    expect(promtool(text)).toEqual({ code: 0, out: '' });
  }
  // The control: promtool does reject a malformed exposition, so the check above can fail.
  expect(promtool('krb5bridge_bad_total{op="x"} notanumber\n').code).not.toBe(0);
});
