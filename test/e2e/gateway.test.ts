/**
 * Submitting from a laptop through the HTTPS gateway, on the real cluster (MIT KDC, munged,
 * slurmctld + slurmd with the plugin, the store, slurmrestd with JWT, `krb5bridge gateway`), with
 * real laptop clients: Python requests and curl. The users never run kinit on the login node: the
 * only ticket the store gets is the one the gateway got with their password (or their delegated
 * SPNEGO ticket).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, User, clusterForFile, waitFor } from '../lib/cluster';
import { curl, login, pythonExample, secretsFound, ticketBytesIn } from '../lib/gateway';
import { promtool, scrape, value } from '../lib/metrics';
import { REPORT_SCRIPT, parseReport } from './jobreport';

// --metrics: the gateway serves its metrics too (TC_GATEWAY_METRICS), for the metrics test below.
const cluster = clusterForFile({ gateway: true, metrics: true });
let c: Cluster;
let alice: User;
let bob: User;
const PW = { alice: 'alice-Pa55 word!', bob: 'bob-S3cret-99', dora: 'dora-Metr1cs' };

const REMEDY_BAD = 'fix the field named and send it again';
const SESSION = { code: 'E_SESSION', message: 'the session token is missing, malformed, expired or logged out', remedy: 'log in again (POST /api/v1/login)' };

beforeAll(() => {
  c = cluster.get();
  alice = c.adduser('gwalice');
  bob = c.adduser('gwbob');
  c.passwd(alice.name, PW.alice);
  c.passwd(bob.name, PW.bob);
});

/** The job script: the credential report, then its environment (for the secrets check). */
const jobScript = (u: User): string => `#!/bin/sh\n${REPORT_SCRIPT}\nenv > ${u.home}/gw-env-$SLURM_JOB_ID.txt\ncp "\${KRB5CCNAME#FILE:}" ${u.home}/gw-cc-$SLURM_JOB_ID\n`;
/** The job of the first test (its environment dump and a copy of its ccache are in alice's home). */
let firstJob = 0;

async function finished(token: string, job: number): Promise<Record<string, unknown>> {
  let last: Record<string, unknown> = {};
  await waitFor(() => {
    last = curl(c, 'GET', `/api/v1/jobs/${job}`, { token }).body;
    return last.state !== 'queued' && last.state !== 'running';
  }, 60_000, `job ${job} to finish`, 250);
  return last;
}

test('password login with Python requests, then submit: the job has the user\'s own ccache and kvno works; status and list', async () => {
  // Nothing of alice's is in the store before her login: she never ran kinit anywhere.
  expect(c.root([...c.helper, 'list', '--json', '--config', c.bridgeConfig]).stdout).not.toContain(alice.name);
  const script = join(alice.home, 'job.sh');
  c.as(alice.name, ['sh', '-c', `cat > ${script}`], { input: jobScript(alice) });
  const run = pythonExample(c, alice.name, PW.alice, script, [`KRB5_CONFIG=${c.krb5Config}`], { JOB_STDOUT: `${alice.home}/gw-%j.out` });
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const steps = run.stdout.trim().split('\n').map((l: string) => JSON.parse(l) as Record<string, unknown>);
  expect(steps[0]).toEqual({ step: 'login', principal: `${alice.name}@${c.realm}`, expires: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/) });
  const job = steps[1]!.job_id as number;
  firstJob = job;
  expect(steps[1]).toEqual({ step: 'submit', job_id: expect.any(Number) });
  expect(steps[2]).toEqual({
    step: 'done',
    job_id: job,
    name: 'laptop-job',
    state: 'completed',
    slurm_state: 'COMPLETED',
    submit_time: expect.stringMatching(/Z$/),
    start_time: expect.stringMatching(/Z$/),
    end_time: expect.stringMatching(/Z$/),
    exit_code: 0,
  });
  const rep = parseReport(readFileSync(join(alice.home, `gw-${job}.out`), 'utf8'));
  expect(rep.job).toBe(String(job));
  expect(rep.ccache).toMatch(new RegExp(`^FILE:/tmp/krb5cc_${alice.uid}_${job}_[A-Za-z0-9]{6}$`));
  expect(rep.stat).toBe(`${alice.name} 600 regular file 1`);
  expect(rep.principal).toBe(`${alice.name}@${c.realm}`);
  expect(rep.kvno).toBe('ok');
  // The list has it, with the documented view; ?state= filters.
  const token = login(c, alice.name, PW.alice);
  const list = curl(c, 'GET', '/api/v1/jobs', { token });
  expect(list.status).toBe(200);
  expect(list.body.jobs).toContainEqual({ ...steps[2], step: undefined, job_id: job } as never);
  expect(curl(c, 'GET', '/api/v1/jobs?state=running', { token }).body).toEqual({ jobs: [] });
  // The stored credential is the one the gateway pushed as alice, renewable.
  const cred = curl(c, 'GET', '/api/v1/credential', { token });
  expect(cred.status).toBe(200);
  expect(cred.body).toEqual({ principal: `${alice.name}@${c.realm}`, expires: expect.stringMatching(/Z$/), renew_until: expect.stringMatching(/Z$/), stored_at: expect.stringMatching(/Z$/) });
  expect(Date.parse(cred.body.renew_until as string)).toBeGreaterThan(Date.parse(cred.body.expires as string));
});

test('cancel: a running job of mine is cancelled; the cluster answer shows the load', async () => {
  const token = login(c, alice.name, PW.alice);
  const sub = curl(c, 'POST', '/api/v1/jobs', { token, body: { script: '#!/bin/sh\nsleep 300\n', name: 'sleeper', stdout: '/dev/null', time_limit_minutes: 10 } });
  expect(sub.status).toBe(201);
  const job = sub.body.job_id as number;
  await waitFor(() => curl(c, 'GET', `/api/v1/jobs/${job}`, { token }).body.state === 'running', 30_000, `job ${job} to run`, 250);
  const load = curl(c, 'GET', '/api/v1/cluster', { token });
  expect(load.status).toBe(200);
  expect(load.body.partitions).toEqual([{ name: 'debug', state: 'up', default: true, nodes: 1, cpus: expect.any(Number), max_time_minutes: null }]);
  expect((load.body.totals as Record<string, number>).cpus_in_use).toBeGreaterThanOrEqual(1);
  const del = curl(c, 'DELETE', `/api/v1/jobs/${job}`, { token });
  expect(del.status).toBe(200);
  expect(del.body).toEqual({ job_id: job, cancelled: true });
  const end = await finished(token, job);
  expect(end).toMatchObject({ job_id: job, state: 'cancelled', slurm_state: 'CANCELLED' });
  const audit = readFileSync(join(c.dir, 'log', 'gateway-audit.log'), 'utf8');
  expect(audit).toMatch(new RegExp(`"op":"cancel","result":"ok","uid":${alice.uid},"principal":"${alice.name}@${c.realm}","host":"127.0.0.1","job":"${job}","mech":"password"`));
});

test("alice's token can neither see nor cancel bob's job; a tampered or logged-out token is 401", async () => {
  const aliceToken = login(c, alice.name, PW.alice);
  const bobToken = login(c, bob.name, PW.bob);
  const sub = curl(c, 'POST', '/api/v1/jobs', { token: bobToken, body: { script: '#!/bin/sh\nsleep 300\n', stdout: '/dev/null' } });
  expect(sub.status).toBe(201);
  const job = sub.body.job_id as number;
  const notYours = { code: 'E_NO_SUCH_JOB', message: `you have no job with this id: job ${job}`, remedy: 'GET /api/v1/jobs lists yours' };
  expect(curl(c, 'GET', `/api/v1/jobs/${job}`, { token: aliceToken })).toMatchObject({ status: 404, body: notYours });
  expect(curl(c, 'DELETE', `/api/v1/jobs/${job}`, { token: aliceToken })).toMatchObject({ status: 404, body: notYours });
  expect((curl(c, 'GET', '/api/v1/jobs', { token: aliceToken }).body.jobs as { job_id: number }[]).map((j) => j.job_id)).not.toContain(job);
  // Bob's job was not touched.
  expect(curl(c, 'GET', `/api/v1/jobs/${job}`, { token: bobToken }).body.state).toMatch(/^(queued|running)$/);
  expect(curl(c, 'DELETE', `/api/v1/jobs/${job}`, { token: bobToken }).status).toBe(200);
  // Tampered: one character changed; garbage; none.
  const tampered = aliceToken.slice(0, 10) + (aliceToken[10] === 'A' ? 'B' : 'A') + aliceToken.slice(11);
  for (const t of [tampered, 'not-a-token', aliceToken + 'x']) expect(curl(c, 'GET', '/api/v1/jobs', { token: t })).toMatchObject({ status: 401, body: SESSION });
  expect(curl(c, 'GET', '/api/v1/jobs')).toMatchObject({ status: 401, body: SESSION });
  // Logged out: the token is dead.
  expect(curl(c, 'POST', '/api/v1/logout', { token: aliceToken })).toMatchObject({ status: 200, body: { logged_out: true } });
  expect(curl(c, 'GET', '/api/v1/jobs', { token: aliceToken })).toMatchObject({ status: 401, body: SESSION });
});

test('an expired token is 401: a session lives no longer than its ticket', async () => {
  // A principal whose tickets live 10 s: its session ends with its ticket.
  const carol = c.adduser('gwcarol');
  c.passwd(carol.name, 'carol-short-1');
  c.root(['kadmin.local', '-r', c.realm, '-q', `modprinc -maxlife "10 seconds" ${carol.name}@${c.realm}`]);
  const r = curl(c, 'POST', '/api/v1/login', { body: { username: carol.name, password: 'carol-short-1' } });
  expect(r.status).toBe(200);
  const expires = Date.parse(r.body.expires as string);
  expect(expires - Date.now()).toBeLessThanOrEqual(11_000);
  expect(curl(c, 'GET', '/api/v1/credential', { token: r.body.token as string }).status).toBe(200);
  await new Promise((res) => setTimeout(res, Math.max(0, expires - Date.now()) + 1000));
  expect(curl(c, 'GET', '/api/v1/jobs', { token: r.body.token as string })).toMatchObject({ status: 401, body: SESSION });
});

test('a principal with no local account: 403, nothing submitted, nothing stored', () => {
  c.root(['kadmin.local', '-r', c.realm, '-q', `addprinc -pw ghost-Pw-1 gwghost@${c.realm}`]);
  const before = c.root(['squeue', '-h', '-o', '%i']).stdout;
  const r = curl(c, 'POST', '/api/v1/login', { body: { username: 'gwghost', password: 'ghost-Pw-1' } });
  expect(r.status).toBe(403);
  expect(r.body).toEqual({
    code: 'E_NO_ACCOUNT',
    message: `this principal has no local account on the cluster, so it cannot run jobs: gwghost@${c.realm} maps to "gwghost", which is not a user on the cluster`,
    remedy: 'ask the site administrators for an account',
  });
  expect(c.root(['squeue', '-h', '-o', '%i']).stdout).toBe(before);
  expect(c.root([...c.helper, 'list', '--json', '--config', c.bridgeConfig]).stdout).not.toContain('gwghost');
});

test('malformed JSON, unknown fields, wrong types and an oversized script: 400/413 naming the field', () => {
  const token = login(c, alice.name, PW.alice);
  const bad = (message: string) => ({ code: 'E_BAD_REQUEST', message: `the request is malformed: ${message}`, remedy: REMEDY_BAD });
  expect(curl(c, 'POST', '/api/v1/jobs', { token, body: '{"script": "#!/bin/sh\\n",' })).toMatchObject({ status: 400, body: { code: 'E_BAD_REQUEST', remedy: REMEDY_BAD } });
  expect(curl(c, 'POST', '/api/v1/jobs', { token, body: { script: '#!/bin/sh\n', colour: 'red' } })).toMatchObject({ status: 400, body: bad('unknown field "colour"') });
  expect(curl(c, 'POST', '/api/v1/jobs', { token, body: { name: 'x' } })).toMatchObject({ status: 400, body: bad('missing field "script"') });
  expect(curl(c, 'POST', '/api/v1/jobs', { token, body: { script: '#!/bin/sh\n', cpus: '4' } })).toMatchObject({ status: 400, body: bad('field "cpus" must be integer') });
  expect(curl(c, 'POST', '/api/v1/jobs', { token, body: { script: 'echo no interpreter line' } })).toMatchObject({ status: 400, body: bad('field "script" must start with "#!" (an interpreter line such as #!/bin/sh)') });
  expect(curl(c, 'POST', '/api/v1/jobs', { token, body: { script: '#!/bin/sh\n', environment: { 'BAD-NAME': 'x' } } })).toMatchObject({ status: 400, body: bad('field "environment" has a name that is not a variable name (letters, digits, _): "BAD-NAME"') });
  expect(curl(c, 'POST', '/api/v1/jobs', { token, body: '{"script":"#!/bin/sh\\n","__proto__":{"x":1}}' })).toMatchObject({ status: 400, body: { code: 'E_BAD_REQUEST' } });
  // Over the script limit but within the body limit: the schema names it; far over: 413 names it.
  const max = 1048576;
  expect(curl(c, 'POST', '/api/v1/jobs', { token, body: { script: `#!/bin/sh\n${'#'.repeat(max)}` } })).toMatchObject({ status: 400, body: bad(`field "script" is longer than ${max} characters`) });
  expect(curl(c, 'POST', '/api/v1/jobs', { token, body: { script: `#!/bin/sh\n${'#'.repeat(3 * max)}` } })).toMatchObject({
    status: 413,
    body: { code: 'E_TOO_LARGE', message: `message too large: the request body is too large: field "script" may hold at most ${max} bytes`, remedy: 'send a smaller request (the message says the limit)' },
  });
  expect(curl(c, 'POST', '/api/v1/login', { body: { username: alice.name } })).toMatchObject({ status: 400, body: bad('missing field "password"') });
  // Slurm's own refusal, in its words (slurmrestd says only "500"): the user's to fix.
  expect(curl(c, 'POST', '/api/v1/jobs', { token, body: { script: '#!/bin/sh\ntrue\n', partition: 'nosuch' } })).toMatchObject({
    status: 400,
    body: { code: 'E_SLURM_REFUSED', message: 'Slurm refused the request: submitting the job: Invalid partition name specified', remedy: 'fix what the message names' },
  });
  expect(c.root(['squeue', '-h', '-u', alice.name, '-o', '%i']).stdout.trim()).toBe('');
});

test('the OpenAPI description is served and lists every route', () => {
  const a = curl(c, 'GET', '/api/v1/openapi.json');
  expect(a.status).toBe(200);
  expect(a.body.openapi).toBe('3.1.0');
  expect(Object.keys(a.body.paths as object).sort()).toEqual(
    ['/api/v1/cluster', '/api/v1/credential', '/api/v1/jobs', '/api/v1/jobs/{id}', '/api/v1/login', '/api/v1/logout', '/api/v1/openapi.json', '/healthz'].sort(),
  );
  expect(curl(c, 'GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
});

test('metrics: requests by route pattern and status, logins, submissions and sessions move by exactly what was done; promtool accepts the scrape', async () => {
  const dora = c.adduser('gwdora');
  c.passwd(dora.name, PW.dora);
  const at = c.env.TC_GATEWAY_METRICS!;
  expect(at).toMatch(/^127\.0\.0\.1:\d+$/);
  const req = (method: string, route: string, status: number): string => `krb5bridge_gateway_requests_total{method="${method}",route="${route}",status="${status}"}`;
  const samples = [
    req('POST', '/api/v1/login', 200),
    req('POST', '/api/v1/login', 401),
    req('POST', '/api/v1/jobs', 201),
    req('GET', '/api/v1/jobs/:id', 200),
    req('POST', '/api/v1/logout', 200),
    req('GET', 'unmatched', 404),
    'krb5bridge_gateway_request_duration_seconds_count{method="POST",route="/api/v1/login"}',
    'krb5bridge_gateway_logins_total{method="password",result="ok"}',
    'krb5bridge_gateway_logins_total{method="password",result="E_LOGIN_FAILED"}',
    'krb5bridge_gateway_logins_total{method="negotiate",result="ok"}',
    'krb5bridge_gateway_submissions_total{result="ok"}',
    'krb5bridge_gateway_sessions',
  ];
  const before = scrape(at);
  const token = login(c, dora.name, PW.dora);
  const sessionsOpen = value(scrape(at), 'krb5bridge_gateway_sessions');
  expect(curl(c, 'POST', '/api/v1/login', { body: { username: dora.name, password: 'not-her-password' } }).status).toBe(401);
  const sub = curl(c, 'POST', '/api/v1/jobs', { token, body: { script: '#!/bin/sh\ntrue\n', stdout: '/dev/null' } });
  expect(sub.status).toBe(201);
  const job = sub.body.job_id as number;
  // GET /api/v1/jobs/:id until it ends (at least once).
  const polls = { n: 0 };
  await waitFor(() => {
    polls.n++;
    const st = curl(c, 'GET', `/api/v1/jobs/${job}`, { token }).body.state;
    return st !== 'queued' && st !== 'running';
  }, 60_000, `job ${job} to finish`, 250);
  expect(curl(c, 'GET', `/no/such/place/${job}`).status).toBe(404);
  expect(curl(c, 'POST', '/api/v1/logout', { token }).status).toBe(200);
  const after = scrape(at);
  const moved = Object.fromEntries(samples.map((s) => [s, value(after, s) - value(before, s)]));
  expect(moved).toEqual({
    [req('POST', '/api/v1/login', 200)]: 1,
    [req('POST', '/api/v1/login', 401)]: 1,
    [req('POST', '/api/v1/jobs', 201)]: 1,
    [req('GET', '/api/v1/jobs/:id', 200)]: polls.n,
    [req('POST', '/api/v1/logout', 200)]: 1,
    [req('GET', 'unmatched', 404)]: 1,
    'krb5bridge_gateway_request_duration_seconds_count{method="POST",route="/api/v1/login"}': 2,
    'krb5bridge_gateway_logins_total{method="password",result="ok"}': 1,
    'krb5bridge_gateway_logins_total{method="password",result="E_LOGIN_FAILED"}': 1,
    'krb5bridge_gateway_logins_total{method="negotiate",result="ok"}': 0,
    'krb5bridge_gateway_submissions_total{result="ok"}': 1,
    // Open after the login, ended by the logout.
    krb5bridge_gateway_sessions: 0,
  });
  expect(sessionsOpen).toBe(value(before, 'krb5bridge_gateway_sessions') + 1);
  // No user, uid, principal, job id or URL in any label: routes are patterns.
  for (const leak of [dora.name, `uid="${dora.uid}"`, c.realm, `/${job}"`, '/no/such']) expect(after).not.toContain(leak);
  expect(after).toMatch(/^krb5bridge_info\{daemon="gateway",version="[^"]+"\} 1$/m);
  expect(promtool(after)).toEqual({ code: 0, out: '' });
}, 120_000);

test('after all of the above: no password in any log, audit line, state file, slurmctld state or job environment; no ticket bytes in the job environment', () => {
  expect(firstJob).toBeGreaterThan(0);
  const envFile = join(alice.home, `gw-env-${firstJob}.txt`);
  const env = readFileSync(envFile);
  expect(env.toString()).toMatch(new RegExp(`^KRB5CCNAME=FILE:/tmp/krb5cc_${alice.uid}_${firstJob}_`, 'm'));
  // The audit log has the logins, submissions and cancellations it should (it is not empty).
  const audit = readFileSync(join(c.dir, 'log', 'gateway-audit.log'), 'utf8');
  expect(audit).toContain(`"op":"login","result":"ok","uid":${alice.uid}`);
  expect(audit).toContain(`"op":"submit","result":"ok","uid":${alice.uid}`);
  expect(secretsFound(c, [PW.alice, PW.bob, PW.dora, 'carol-short-1', 'ghost-Pw-1'], [envFile])).toEqual([]);
  expect(ticketBytesIn(env, readFileSync(join(alice.home, `gw-cc-${firstJob}`)))).toBeUndefined();
  // The check can fail: the ccache copy does hold its own bytes.
  const cc = readFileSync(join(alice.home, `gw-cc-${firstJob}`));
  expect(ticketBytesIn(cc, cc)).toBe('raw bytes at 64');
  expect(secretsFound(c, [alice.name])).not.toEqual([]);
});
