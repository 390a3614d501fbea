/**
 * The gateway's logins on the real cluster: SPNEGO with a delegated ticket (curl --negotiate
 * --delegation always) ends in the user's TGT in the store and a job that uses it; without
 * delegation the 401 says how to enable it; a wrong password and an unknown user get the same
 * answer; N failures lock the user out (the KDC is not even asked), a correct password during
 * the lockout is refused too, and the lockout ends by itself after the window.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, User, clusterForFile, waitFor } from '../lib/cluster';
import { curl, login, secretsFound } from '../lib/gateway';
import { REPORT_SCRIPT, parseReport } from './jobreport';

const cluster = clusterForFile({ gateway: true });
let c: Cluster;
let alice: User;
let carl: User;
const CARL_PW = 'carl-Correct-7';

beforeAll(() => {
  c = cluster.get();
  alice = c.adduser('gwsalice');
  carl = c.adduser('gwcarl');
  c.passwd(carl.name, CARL_PW);
});

/** A laptop's ticket for alice (forwardable), in a ccache of the cluster directory. */
function laptopTicket(forwardable: boolean): NodeJS.ProcessEnv {
  const cc = `FILE:${join(c.dir, 'laptop-alice.cc')}`;
  const r = c.root(['kinit', forwardable ? '-f' : '-F', '-k', '-t', alice.keytab, '-c', cc, `${alice.name}@${c.realm}`]);
  if (r.code !== 0) throw new Error(`kinit: ${r.stderr}`);
  return { KRB5CCNAME: cc };
}

const kdcRequests = (who: string): number => readFileSync(join(c.dir, 'log', 'kdc.log'), 'utf8').split('\n').filter((l) => l.includes('AS_REQ') && l.includes(`${who}@${c.realm} for krbtgt/`)).length;

test('SPNEGO with delegation: a session, the delegated TGT in the store, and a job that uses it', async () => {
  const env = laptopTicket(true);
  const a = curl(c, 'POST', '/api/v1/login', { args: ['--negotiate', '-u', ':', '--delegation', 'always'], env });
  expect(a.status).toBe(200);
  expect(a.body).toEqual({ token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), expires: expect.any(String), principal: `${alice.name}@${c.realm}` });
  expect(a.headers['www-authenticate']).toMatch(/^Negotiate [A-Za-z0-9+/]+=*$/); // mutual authentication
  const token = a.body.token as string;
  const cred = curl(c, 'GET', '/api/v1/credential', { token });
  expect(cred.body.principal).toBe(`${alice.name}@${c.realm}`);
  expect(Date.parse(cred.body.renew_until as string)).toBeGreaterThan(Date.parse(cred.body.expires as string));
  const sub = curl(c, 'POST', '/api/v1/jobs', { token, body: { script: `#!/bin/sh\n${REPORT_SCRIPT}\n`, stdout: `${alice.home}/spnego-%j.out`, environment: { KRB5_CONFIG: c.krb5Config } } });
  expect(sub.status).toBe(201);
  const job = sub.body.job_id as number;
  await waitFor(() => ['completed', 'failed'].includes(curl(c, 'GET', `/api/v1/jobs/${job}`, { token }).body.state as string), 60_000, `job ${job}`, 250);
  const rep = parseReport(readFileSync(join(alice.home, `spnego-${job}.out`), 'utf8'));
  expect(rep.principal).toBe(`${alice.name}@${c.realm}`);
  expect(rep.ccache).toMatch(new RegExp(`^FILE:/tmp/krb5cc_${alice.uid}_${job}_`));
  expect(rep.kvno).toBe('ok');
  expect(readFileSync(join(c.dir, 'log', 'gateway-audit.log'), 'utf8')).toContain(`"op":"login","result":"ok","uid":${alice.uid},"principal":"${alice.name}@${c.realm}","host":"127.0.0.1","mech":"spnego"`);
});

test('SPNEGO without delegation: 401 that says how to enable it', () => {
  for (const [forwardable, args] of [
    [true, ['--negotiate', '-u', ':']],
    [false, ['--negotiate', '-u', ':', '--delegation', 'always']],
  ] as const) {
    const a = curl(c, 'POST', '/api/v1/login', { args: [...args], env: laptopTicket(forwardable) });
    expect(a.status).toBe(401);
    expect(a.body).toEqual({
      code: 'E_NO_DELEGATION',
      message: `your Kerberos ticket was not delegated to the gateway: ${alice.name}@${c.realm} authenticated, but sent no delegated ticket`,
      remedy: 'use curl --negotiate --delegation always (or requests-gssapi with delegate=True) and a forwardable ticket (kinit -f)',
    });
  }
});

test('no credentials at all: 401 with WWW-Authenticate: Negotiate; a garbage Negotiate token: 401', () => {
  const a = curl(c, 'POST', '/api/v1/login');
  expect(a.status).toBe(401);
  expect(a.headers['www-authenticate']).toBe('Negotiate');
  expect(a.body.code).toBe('E_AUTH');
  const g = curl(c, 'POST', '/api/v1/login', { args: ['-H', `Authorization: Negotiate ${Buffer.from('garbage token').toString('base64')}`] });
  expect(g.status).toBe(401);
  expect(g.body).toMatchObject({ code: 'E_AUTH', message: expect.stringMatching(/^authentication failed: the Negotiate token was refused: /) });
});

test('a wrong password and an unknown user get identical answers', () => {
  const wrong = curl(c, 'POST', '/api/v1/login', { body: { username: carl.name, password: 'not-it' } });
  const unknown = curl(c, 'POST', '/api/v1/login', { body: { username: 'gwnosuchuser', password: 'not-it' } });
  const expected = { code: 'E_LOGIN_FAILED', message: 'login failed: unknown user name or wrong password', remedy: 'check both and try again' };
  expect(wrong.status).toBe(401);
  expect(wrong.body).toEqual(expected);
  expect(unknown.status).toBe(401);
  expect(unknown.body).toEqual(expected);
  const strip = (h: Record<string, string>) => Object.keys(h).filter((k) => !['date', 'x-ratelimit-remaining', 'x-ratelimit-reset'].includes(k)).sort().map((k) => `${k}: ${h[k]}`);
  expect(strip(unknown.headers)).toEqual(strip(wrong.headers));
  // Carl's slate is clean for the lockout test: a correct login forgets his failures.
  login(c, carl.name, CARL_PW);
});

test('lockout after 3 failures; a correct password during it is refused without asking the KDC; it clears after the window', async () => {
  for (let i = 0; i < 3; i++) expect(curl(c, 'POST', '/api/v1/login', { body: { username: carl.name, password: `wrong-${i}` } }).status).toBe(401);
  const asked = kdcRequests(carl.name);
  const locked = curl(c, 'POST', '/api/v1/login', { body: { username: carl.name, password: CARL_PW } });
  expect(locked.status).toBe(429);
  const retry = Number(locked.headers['retry-after']);
  expect(retry).toBeGreaterThanOrEqual(1);
  expect(retry).toBeLessThanOrEqual(8); // gateway_lockout_window = 8 in the test cluster
  expect(locked.body).toEqual({
    code: 'E_LOCKED_OUT',
    message: `too many failed logins for this user or from this address: logins for this user are locked for ${retry} s`,
    remedy: 'wait for the seconds in Retry-After, then try again',
  });
  expect(kdcRequests(carl.name)).toBe(asked);
  // Another user from the same address is not locked out (the address's limit is 4x higher).
  expect(curl(c, 'POST', '/api/v1/login', { body: { username: 'gwnosuchuser', password: 'x' } }).status).toBe(401);
  await new Promise((r) => setTimeout(r, retry * 1000 + 500));
  const again = curl(c, 'POST', '/api/v1/login', { body: { username: carl.name, password: CARL_PW } });
  expect(again.status).toBe(200);
  expect(again.body.principal).toBe(`${carl.name}@${c.realm}`);
  const audit = readFileSync(join(c.dir, 'log', 'gateway-audit.log'), 'utf8');
  expect(audit).toContain(`"op":"login","result":"refused","code":"E_LOCKED_OUT","principal":"${carl.name}","host":"127.0.0.1","mech":"password","rule":"user"`);
  expect(audit).toContain(`"op":"login","result":"refused","code":"E_LOGIN_FAILED","principal":"${carl.name}","host":"127.0.0.1","mech":"password"`);
});

test('the laptop verbs: krb5bridge submit (password on stdin), jobs and cancel reuse the kept token; --negotiate logs in with a ticket', async () => {
  const g = c.gateway!;
  const common = ['--gateway', g.url, '--ca', g.ca];
  c.as(carl.name, ['sh', '-c', `printf '#!/bin/sh\\nsleep 300\\n' > ${carl.home}/sleep.sh`]);
  const sub = c.as(carl.name, [...c.helper, 'submit', ...common, `${carl.home}/sleep.sh`, '--output', '/dev/null', '--name', 'cli-sleep', '--time', '10'], { input: `${CARL_PW}\n` });
  expect(sub.stderr).toBe('');
  expect(sub.stdout).toMatch(/^submitted job \d+\n$/);
  const job = /(\d+)/.exec(sub.stdout)![1]!;
  // No password this time: the session token was kept (0600, in carl's home).
  const list = c.as(carl.name, [...c.helper, 'jobs', ...common, '--json'], { input: '' });
  expect(list.code).toBe(0);
  expect((JSON.parse(list.stdout) as { jobs: { job_id: number; name: string }[] }).jobs).toContainEqual(expect.objectContaining({ job_id: Number(job), name: 'cli-sleep' }));
  expect(c.as(carl.name, ['stat', '-c', '%a %U', `${carl.home}/.cache/krb5bridge/gateway-token`]).stdout).toBe(`600 ${carl.name}\n`);
  const cancel = c.as(carl.name, [...c.helper, 'cancel', ...common, job], { input: '' });
  expect(cancel.stdout).toBe(`cancelled job ${job}\n`);
  // --json, as on every verb (test/e2e/sysadmin.test.ts counts on this test for the laptop verbs).
  const subJson = c.as(carl.name, [...c.helper, 'submit', ...common, `${carl.home}/sleep.sh`, '--output', '/dev/null', '--json'], { input: '' });
  expect(subJson.stderr).toBe('');
  const job2 = String((JSON.parse(subJson.stdout) as { job_id: number }).job_id);
  expect(job2).toMatch(/^\d+$/);
  const cancelJson = c.as(carl.name, [...c.helper, 'cancel', ...common, job2, '--json'], { input: '' });
  expect(cancelJson.code).toBe(0);
  expect(JSON.parse(cancelJson.stdout)).toBeInstanceOf(Object);
  const again = c.as(carl.name, [...c.helper, 'cancel', ...common, '99999'], { input: '' });
  expect(again.code).toBe(58);
  expect(again.stderr).toBe('krb5bridge: E_NO_SUCH_JOB: you have no job with this id; GET /api/v1/jobs lists yours: the gateway answered HTTP 404: you have no job with this id: job 99999: Slurm knows no such job\n');
  // SPNEGO from the command line: alice's own (forwardable) ticket, no password.
  c.kinit(alice.name, ['-f']);
  const neg = c.as(alice.name, [...c.helper, 'jobs', ...common, '--negotiate', '--json'], { input: '' });
  expect(neg.stderr).toBe('');
  expect(JSON.parse(neg.stdout)).toEqual({ jobs: expect.any(Array) });
});

test('after the logins above: no password in any log, audit line or state file', () => {
  expect(secretsFound(c, [CARL_PW, 'wrong-0', 'wrong-1', 'wrong-2', 'not-it'])).toEqual([]);
});
