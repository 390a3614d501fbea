/**
 * krb5 mode vs munge mode: fetch latency and throughput against ONE real `krb5bridge serve`
 * (which accepts both), a real munged and a real KDC (scripts/testcluster --only kdc,munge), in
 * the same run. Clients are root on the "node": munge authenticates uid 0, krb5 the host keytab.
 *
 *   node scripts/build-helper.mjs
 *   npx esbuild bench/krb5-bench.ts --bundle --platform=node --external:koffi \
 *     --outfile=build/krb5-bench.cjs --log-level=warning && node build/krb5-bench.cjs [--seconds 3]
 *
 * Scenarios, each for both mechanisms:
 *   session      1 client, one connection, fetch after fetch (krb5: one handshake, then KRB-PRIV)
 *   per-conn     1 client, a new connection per fetch (what one `materialise` does: krb5 pays
 *                the AP-REQ/AP-REP handshake each time; its service ticket is cached)
 *   cold         krb5 only: a new connection AND no cached host ticket (a fresh process: two KDC
 *                exchanges, get_init_creds_keytab + TGS, before the handshake)
 *   100 sessions 100 concurrent connections in 2 worker processes (throughput)
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { Result, benchMain, cpuSeconds, pct, printColumns, runWorkers } from './workers';
import { mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../helper/src/config/config';
import { defaultConfig } from '../helper/src/config/config';
import { StoreSession, fetchCreds } from '../helper/src/client/client';
import { dropHostCache } from '../helper/src/krb5';

const REPO = resolve(__dirname, '..');
const HELPER = join(REPO, 'build/krb5bridge.cjs');
const TESTCLUSTER = join(REPO, 'scripts/testcluster');

type Style = 'session' | 'per-conn' | 'cold';
interface Job {
  config: Config;
  uid: number;
  clients: number;
  seconds: number;
  style: Style;
}

async function runClients(job: Job): Promise<Result> {
  const sessions = Array.from({ length: job.clients }, () => new StoreSession(job.config, { role: 'node' }));
  await Promise.all(sessions.map((s) => fetchCreds(job.config, job.uid, s))); // warm-up, not measured
  if (job.style !== 'session') sessions.forEach((s) => s.close());
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const end = Date.now() + job.seconds * 1000;
  await Promise.all(
    sessions.map(async (s) => {
      while (Date.now() < end) {
        if (job.style === 'cold') dropHostCache();
        const t0 = process.hrtime.bigint();
        try {
          await fetchCreds(job.config, job.uid, s);
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        } catch (e) {
          errors++;
          firstError ??= (e as Error).message;
        }
        if (job.style !== 'session') s.close();
      }
    }),
  );
  sessions.forEach((s) => s.close());
  return { count: latencies.length, errors, latencies, ...(firstError ? { firstError } : {}) };
}





const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

async function startStore(dir: string, conf: string, krb5Config: string): Promise<{ proc: ChildProcess; address: string; log: string }> {
  const log = join(dir, 'krb5-bench-store.log');
  const state = mkdtempSync(join(dir, 'krb5-bench-state-'));
  const proc = spawn(process.execPath, [HELPER, 'serve', '--config', conf, '--listen', '127.0.0.1:0', '--state-dir', state, '--max-connections', '8192', '--job-bound', 'no', '--key-file', join(dir, 'krb5-bench-store.key')], {
    env: { PATH: '/usr/bin:/bin', KRB5_CONFIG: krb5Config },
    stdio: ['ignore', 'ignore', openSync(log, 'a')],
  });
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const m = /listening on (127\.0\.0\.1:\d+)/.exec(readFileSync(log, 'utf8'));
    if (m) return { proc, address: m[1]!, log };
  }
  throw new Error(`store did not start; see ${log}`);
}

async function main(): Promise<void> {
  const secIdx = process.argv.indexOf('--seconds');
  const seconds = secIdx > 0 ? Number(process.argv[secIdx + 1]) : 3;
  const dir = sh(TESTCLUSTER, ['up', '--only', 'kdc,munge', '--dir', mkdtempSync('/tmp/krb5bridge-k5bench-')]).trim();
  const env = Object.fromEntries(
    readFileSync(join(dir, 'env'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('export '))
      .map((l) => l.slice(7).split('=', 2) as [string, string]),
  );
  // No Slurm here: fetches name no job, so the bench store runs without the job check.
  // libkrb5 of this process and of the forked workers reads it from the real environment.
  process.env.KRB5_CONFIG = env.KRB5_CONFIG!;
  let store: Awaited<ReturnType<typeof startStore>> | undefined;
  try {
    const realm = env.TC_REALM!;
    const mungeSocket = env.TC_MUNGE_SOCKET!;
    sh(TESTCLUSTER, ['adduser', 'tck5bench', '--dir', dir]);
    sh(TESTCLUSTER, ['kinit', 'tck5bench', '--dir', dir]);
    const uid = Number(sh('id', ['-u', 'tck5bench']).trim());
    // The store's config: its keytab makes it accept krb5 as well as munge.
    const conf = join(dir, 'krb5-bench.conf');
    writeFileSync(conf, `munge_socket = ${mungeSocket}\nstore_principal = krb5bridge/localhost@${realm}\nkeytab = ${dir}/kdc/store.keytab\n`);
    store = await startStore(dir, conf, env.KRB5_CONFIG!);
    sh(TESTCLUSTER, ['as', 'tck5bench', '--dir', dir, '--', process.execPath, env.TC_HELPER!, '--store', store.address, '--munge-socket', mungeSocket, 'push', '--no-marker']);
    const munge: Config = { ...defaultConfig(), store: store.address, munge_socket: mungeSocket, timeout: 30 };
    const krb5: Config = {
      ...munge,
      auth: 'krb5',
      store_principal: `krb5bridge/localhost@${realm}`,
      client_keytab: `${dir}/kdc/host.keytab`,
      client_principal: `host/localhost@${realm}`,
    };
    const rows: string[][] = [['scenario', 'auth', 'clients', 'fetches/s', 'p50 ms', 'p99 ms', 'errors', 'store CPU us/fetch']];
    const p50: Record<string, number> = {};
    const rate: Record<string, number> = {};
    const run = async (name: string, mech: 'munge' | 'krb5', style: Style, clients: number): Promise<void> => {
      const cpu0 = cpuSeconds(store!.proc.pid!);
      const r = await runWorkers({ config: mech === 'krb5' ? krb5 : munge, uid, clients, seconds, style }, clients === 1 ? 1 : 2);
      const cpu = cpuSeconds(store!.proc.pid!) - cpu0;
      const sorted = r.latencies.sort((a, b) => a - b);
      p50[`${name}/${mech}`] = pct(sorted, 50);
      rate[`${name}/${mech}`] = r.count / seconds;
      rows.push([name, mech, String(clients), (r.count / seconds).toFixed(0), pct(sorted, 50).toFixed(2), pct(sorted, 99).toFixed(2), String(r.errors), ((cpu * 1e6) / (r.count + clients)).toFixed(0)]);
      if (r.errors) process.stderr.write(`${name} ${mech}: ${r.errors} errors (${r.firstError})\n`);
    };
    for (const mech of ['munge', 'krb5'] as const) {
      await run('session', mech, 'session', 1);
      await run('per-conn', mech, 'per-conn', 1);
      await run('100 sessions', mech, 'session', 100);
    }
    await run('cold', 'krb5', 'cold', 1);
    printColumns(rows);
    const ratio = (k: string, m: Record<string, number>): string => (m[`${k}/krb5`]! / m[`${k}/munge`]!).toFixed(2);
    process.stdout.write(
      `krb5/munge: p50 session ${ratio('session', p50)}, p50 per-conn ${ratio('per-conn', p50)}, throughput 100 sessions ${ratio('100 sessions', rate)}; ` +
        `cold krb5 p50 ${p50['cold/krb5']!.toFixed(2)} ms (KDC round trips included)\n`,
    );
  } finally {
    store?.proc.kill('SIGTERM');
    sh(TESTCLUSTER, ['down', '--dir', dir, '--rm']);
  }
}

benchMain('krb5-bench', runClients, main);
