// The HTTPS gateway on a real throwaway cluster (`testcluster up --gateway`), in one run:
//  (a) submitting a job: `sbatch` on the login node (the baseline, the user's ticket already
//      stored) vs the gateway, from a client that keeps its HTTPS connection (as a Python
//      requests session does) and from a new curl process per submission;
//  (b) logging in with a password (password -> TGT -> verified -> pushed to the store as the user);
//  (c) 50 concurrent clients submitting for GATEWAY_BENCH_SECONDS (default 30): submissions per
//      second, latency percentiles, errors. Each client cancels each job it submitted right after
//      (timed apart), so the queue stays far below Slurm's MaxJobCount whatever the rate.
// Variants of (a) alternate run by run. BENCH_RUNS sets the runs per variant (default 20).
import { spawnSync } from 'node:child_process';
import * as https from 'node:https';
import { mkdtempSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { interleave, median, printTable, quantile, timeCommand } from './lib.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const tc = join(repo, 'scripts/testcluster');
const runs = Number(process.env.BENCH_RUNS || 20);
const seconds = Number(process.env.GATEWAY_BENCH_SECONDS || 30);
const CLIENTS = 50;
const USERS = 5; // a user holds at most 32 sessions: 50 clients share 5 users
const PASSWORD = `bench-${process.pid}-pw`;

function sh(args) {
  const r = spawnSync(tc, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`scripts/testcluster ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout.trim();
}

function envOf(dir) {
  const env = {};
  for (const m of readFileSync(join(dir, 'env'), 'utf8').matchAll(/^export ([A-Z0-9_]+)=(.*)$/gm)) env[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
  return env;
}

/** One HTTPS request on `agent`; resolves with {status, body, ms}. */
function request(base, ca, agent, method, path, body, token) {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const t0 = process.hrtime.bigint();
  return new Promise((resolvePromise, reject) => {
    const req = https.request(new URL(path, base), {
      method,
      ca,
      agent,
      headers: { ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}), ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        let parsed;
        try {
          parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          parsed = {};
        }
        resolvePromise({ status: res.statusCode, body: parsed, ms });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const dir = mkdtempSync('/tmp/krb5bridge-bench-');
sh(['up', '--gateway', '--dir', dir]);
try {
  const env = envOf(dir);
  const base = env.KRB5BRIDGE_GATEWAY_URL;
  const ca = readFileSync(env.KRB5BRIDGE_GATEWAY_CA);
  const users = Array.from({ length: USERS }, (_, i) => `gwbench${i}`);
  for (const u of users) {
    sh(['adduser', u, '--dir', dir]);
    sh(['passwd', u, PASSWORD, '--dir', dir]);
  }
  const user = users[0];
  sh(['kinit', user, '--dir', dir]);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  const login = async (u, a = agent) => {
    const r = await request(base, ca, a, 'POST', '/api/v1/login', { username: u, password: PASSWORD });
    if (r.status !== 200) throw new Error(`login of ${u}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return r;
  };
  const token = (await login(user)).body.token;
  const job = { script: '#!/bin/sh\ntrue\n', stdout: '/dev/null', name: 'bench' };

  // (a) one submission at a time.
  console.log(`gateway benchmark: ${runs} runs per variant after 2 warm-up runs, variants interleaved`);
  const gatewaySubmit = () => {
    // interleave() is synchronous: run the request in a child node so the timing is a whole call.
    return timeCommand([process.execPath, '-e', `
      const https = require('https');
      const t0 = process.hrtime.bigint();
      const agent = new https.Agent({ keepAlive: true });
      const go = (n) => new Promise((ok, no) => { const b = Buffer.from(${JSON.stringify(JSON.stringify(job))});
        const r = https.request(${JSON.stringify(`${base}/api/v1/jobs`)}, { method: 'POST', agent, ca: require('fs').readFileSync(${JSON.stringify(env.KRB5BRIDGE_GATEWAY_CA)}),
          headers: { 'Content-Type': 'application/json', 'Content-Length': b.length, Authorization: 'Bearer ${token}' } },
          (res) => { res.resume(); res.on('end', () => res.statusCode === 201 ? ok() : no(new Error('HTTP ' + res.statusCode))); });
        r.on('error', no); r.end(b); });
      // Warm the connection (TLS handshake), then time one submission on it, as a session does.
      go().then(() => { const t = process.hrtime.bigint(); return go().then(() => console.log(Number(process.hrtime.bigint() - t) / 1e6)); }).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(1); });
    `]);
  };
  const samples = interleave(
    [
      { name: 'sbatch on the login node', run: () => timeCommand([tc, 'as', user, '--dir', dir, '--', 'sbatch', '--wrap', 'true', '-o', '/dev/null']) },
      { name: '(of which: testcluster as, running true)', run: () => timeCommand([tc, 'as', user, '--dir', dir, '--', 'true']) },
      { name: 'gateway, kept HTTPS connection', run: () => ({ ms: Number(gatewaySubmit().stdout.trim()) }) },
      {
        name: 'gateway, new curl per submission',
        run: () => timeCommand(['curl', '-sS', '-f', '-o', '/dev/null', '--cacert', env.KRB5BRIDGE_GATEWAY_CA, '-H', `Authorization: Bearer ${token}`, '-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(job), `${base}/api/v1/jobs`]),
      },
    ],
    runs,
  );
  printTable('(a) submitting one job (latency of the submission itself)', samples, 'sbatch on the login node');
  const ratio = median(samples['gateway, kept HTTPS connection']) / median(samples['sbatch on the login node']);
  console.log(`  gateway (kept connection) / sbatch: ${ratio.toFixed(2)}x (goal: within 2x)`);
  // The sbatch row includes running it as the user (bash, runuser): without that wrapper, sbatch alone.
  const alone = median(samples['sbatch on the login node']) - median(samples['(of which: testcluster as, running true)']);
  console.log(`  sbatch alone (minus the wrapper): ${alone.toFixed(1)} ms; gateway kept connection / that: ${(median(samples['gateway, kept HTTPS connection']) / alone).toFixed(2)}x, new curl / that: ${(median(samples['gateway, new curl per submission']) / alone).toFixed(2)}x`);
  spawnSync('scancel', ['-u', user], { env: { ...process.env, SLURM_CONF: env.SLURM_CONF } });

  // (b) password login.
  const logins = [];
  for (let i = 0; i < runs + 2; i++) {
    const r = await login(user);
    if (i >= 2) logins.push(r.ms);
    await request(base, ca, agent, 'POST', '/api/v1/logout', undefined, r.body.token);
  }
  console.log(`\n(b) password login (password -> TGT -> verified with the gateway keytab -> pushed to the store as the user), ${runs} runs`);
  console.log(`  median ${median(logins).toFixed(1)} ms, p10 ${quantile(logins, 0.1).toFixed(1)} ms, p90 ${quantile(logins, 0.9).toFixed(1)} ms`);

  // (c) 50 concurrent clients, each with its own session and HTTPS connection.
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, async (_, i) => {
      const a = new https.Agent({ keepAlive: true, maxSockets: 1 });
      return { agent: a, token: (await login(users[i % USERS], a)).body.token };
    }),
  );
  const latencies = [];
  const cancelLatencies = [];
  const errors = {};
  const count = (k) => (errors[k] = (errors[k] ?? 0) + 1);
  let ok = 0;
  const end = Date.now() + seconds * 1000;
  const t0 = Date.now();
  await Promise.all(
    clients.map(async (cl) => {
      while (Date.now() < end) {
        try {
          const r = await request(base, ca, cl.agent, 'POST', '/api/v1/jobs', job, cl.token);
          if (r.status !== 201) {
            count(`submit: HTTP ${r.status} ${r.body.code ?? ''}`);
            continue;
          }
          ok++;
          latencies.push(r.ms);
          const d = await request(base, ca, cl.agent, 'DELETE', `/api/v1/jobs/${r.body.job_id}`, undefined, cl.token);
          // A job that already ran `true` and ended cannot be cancelled: Slurm says so (400), no error of ours.
          if (d.status === 200 || (d.status === 400 && d.body.code === 'E_SLURM_REFUSED')) cancelLatencies.push(d.ms);
          else count(`cancel: HTTP ${d.status} ${d.body.code ?? ''}`);
        } catch (e) {
          count(e.code ?? e.message);
        }
      }
    }),
  );
  const elapsed = (Date.now() - t0) / 1000;
  const nerr = Object.values(errors).reduce((a, b) => a + b, 0);
  console.log(`\n(c) ${CLIENTS} concurrent clients (${USERS} users) submitting for ${seconds} s`);
  console.log(`  ${ok} submissions in ${elapsed.toFixed(1)} s: ${(ok / elapsed).toFixed(1)}/s; submission latency median ${median(latencies).toFixed(1)} ms, p99 ${quantile(latencies, 0.99).toFixed(1)} ms`);
  console.log(`  ${cancelLatencies.length} cancellations: median ${median(cancelLatencies).toFixed(1)} ms, p99 ${quantile(cancelLatencies, 0.99).toFixed(1)} ms; errors ${nerr}${nerr ? ` ${JSON.stringify(errors)}` : ''}`);
  for (const u of users) spawnSync('scancel', ['-u', u], { env: { ...process.env, SLURM_CONF: env.SLURM_CONF } });
  for (const cl of clients) cl.agent.destroy();
  agent.destroy();
} finally {
  sh(['down', '--dir', dir, '--rm']);
}
