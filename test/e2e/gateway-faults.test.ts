/**
 * The gateway when what it depends on is down, on the real cluster: the store stopped (503), the
 * KDC hung (503) and slurmrestd hung or stopped (502): each the documented status and one clear
 * message, within the configured timeout (timeout = 5 and kdc_timeout = 5 in the test cluster's
 * gateway.conf), and the gateway serves again once the part is back.
 */
import { Cluster, User, clusterForFile } from '../lib/cluster';
import { curl, login } from '../lib/gateway';

const cluster = clusterForFile({ gateway: true });
let c: Cluster;
let alice: User;
const PW = 'faults-Pw-1';
/** The configured bound (seconds) on the store, slurmrestd and KDC exchanges. */
const TIMEOUT_MS = 5000;
/** curl and the gateway's own work on a loaded 2-core machine: generous, and still far from "hangs". */
const SLACK_MS = 4000;

beforeAll(() => {
  c = cluster.get();
  alice = c.adduser('gwfalice');
  c.passwd(alice.name, PW);
});

function pid(name: string): number {
  const p = c.status()[name];
  if (p === undefined) throw new Error(`${name} does not run`);
  return p;
}

test('the store stopped: login answers 503 E_STORE_UNREACHABLE at once; after a restart it works', () => {
  c.storeStop();
  try {
    const a = curl(c, 'POST', '/api/v1/login', { body: { username: alice.name, password: PW } });
    expect(a.status).toBe(503);
    expect(a.body).toEqual({
      code: 'E_STORE_UNREACHABLE',
      message: `cannot reach the credential store: cannot connect to ${c.store}: ECONNREFUSED`,
      remedy: 'try again in a minute; if it goes on, tell the site administrators (the credential store must run)',
    });
  } finally {
    c.storeStart();
  }
  expect(login(c, alice.name, PW)).toMatch(/^[A-Za-z0-9_-]{43}$/);
});

test('the store no longer holds the user\'s ticket (an admin removed it): submit answers 409 and nothing is submitted', async () => {
  const token = login(c, alice.name, PW);
  const removed = c.root([...c.helper, 'remove', '--uid', String(alice.uid), '--config', c.bridgeConfig]);
  expect(removed.code).toBe(0);
  // A positive answer of the store is trusted for 10 s (routes.ts, STORE_CHECK_MS); past that it is asked again.
  await new Promise((r) => setTimeout(r, 10_500));
  const a = curl(c, 'POST', '/api/v1/jobs', { token, body: { script: '#!/bin/sh\ntrue\n' } });
  expect(a.status).toBe(409);
  expect(a.body).toEqual({
    code: 'E_NOT_FOUND',
    message: expect.stringMatching(/^the store holds no credential for this user: store 127\.0\.0\.1:\d+: /),
    remedy: 'log in again: the store holds no ticket for you any more',
  });
  expect(c.root(['squeue', '-h', '-o', '%i']).stdout.trim()).toBe('');
  // Logging in again stores it again.
  const again = login(c, alice.name, PW);
  expect(curl(c, 'POST', '/api/v1/jobs', { token: again, body: { script: '#!/bin/sh\ntrue\n', stdout: '/dev/null' } }).status).toBe(201);
}, 60_000);

test('the KDC hung: login answers 503 E_KDC_UNREACHABLE within kdc_timeout; then it works again', () => {
  const kdc = pid('kdc');
  process.kill(kdc, 'SIGSTOP');
  let a;
  try {
    a = curl(c, 'POST', '/api/v1/login', { body: { username: alice.name, password: PW } });
  } finally {
    process.kill(kdc, 'SIGCONT');
  }
  expect(a.status).toBe(503);
  expect(a.body).toEqual({
    code: 'E_KDC_UNREACHABLE',
    message: `the KDC did not answer (down, hung or unreachable): the KDC did not answer within 5 s (password login of ${alice.name}); it may be down or hung`,
    remedy: 'try again in a minute; if it goes on, tell the site administrators',
  });
  expect(a.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 200);
  expect(a.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
  expect(login(c, alice.name, PW)).toMatch(/^[A-Za-z0-9_-]{43}$/);
});

test('slurmrestd hung: 502 E_SLURMRESTD within the timeout; stopped: 502 at once', () => {
  const token = login(c, alice.name, PW);
  const restd = pid('slurmrestd');
  process.kill(restd, 'SIGSTOP');
  let a;
  try {
    a = curl(c, 'GET', '/api/v1/jobs', { token });
  } finally {
    process.kill(restd, 'SIGCONT');
  }
  expect(a.status).toBe(502);
  expect(a.body).toEqual({
    code: 'E_SLURMRESTD',
    message: `slurmrestd cannot be reached or gave no usable answer: slurmrestd at ${c.gateway!.slurmrestd} did not answer GET /jobs within 5 s`,
    remedy: 'try again later or tell the site administrators',
  });
  expect(a.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 200);
  expect(a.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
  expect(curl(c, 'GET', '/api/v1/jobs', { token }).status).toBe(200);
  // Stopped for good (the last test of this file): refused at once.
  process.kill(restd, 'SIGTERM');
  const s = curl(c, 'POST', '/api/v1/jobs', { token, body: { script: '#!/bin/sh\ntrue\n' } });
  expect(s.status).toBe(502);
  expect(s.body).toEqual({
    code: 'E_SLURMRESTD',
    message: `slurmrestd cannot be reached or gave no usable answer: cannot reach slurmrestd at ${c.gateway!.slurmrestd}: ECONNREFUSED`,
    remedy: 'try again later or tell the site administrators',
  });
  expect(c.root(['squeue', '-h', '-o', '%i']).stdout.trim()).toBe('');
});
