/**
 * Store benchmark: fetches/s and latency through the real fetch path (client munge_encode ->
 * TCP -> store munge_decode -> rules -> munge_encode -> client munge_decode), against a real
 * `krb5bridge serve` process, a real munged and a TGT from a real KDC (scripts/testcluster).
 *
 *   node scripts/build-helper.mjs
 *   npx esbuild bench/store-bench.ts --bundle --platform=node --external:koffi \
 *     --outfile=build/store-bench.cjs --log-level=warning && node build/store-bench.cjs [--seconds 5]
 *
 * Scenarios: 1, 100 and 1,000 concurrent clients (each with its own connection, one request at a
 * time), then 1 client alone and 1 client while 1,000 idle connections are held open.
 * Clients run in 2 worker processes (forked from this file) so the client side is not one thread.
 * Last, the cost of Prometheus metrics: 100 clients against a second store with `--metrics-listen`,
 * measured right after the same scenario on the first (metrics off), as a ratio.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { Result, benchMain, cpuSeconds, pct, printColumns, runWorkers } from './workers';
import { mkdtempSync, openSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import * as net from 'node:net';
import { join, resolve } from 'node:path';
import type { Config } from '../helper/src/config/config';
import { defaultConfig } from '../helper/src/config/config';
import { StoreSession, fetchCreds } from '../helper/src/client/client';

const REPO = resolve(__dirname, '..');
const HELPER = join(REPO, 'build/krb5bridge.cjs');
const TESTCLUSTER = join(REPO, 'scripts/testcluster');

interface Job {
  config: Config;
  uid: number;
  clients: number;
  seconds: number;
}


// ---------------------------------------------------------------- worker side

async function runClients(job: Job): Promise<Result> {
  const sessions = Array.from({ length: job.clients }, () => new StoreSession(job.config));
  // Connect and warm each session once, outside the measurement.
  await Promise.all(sessions.map((s) => fetchCreds(job.config, job.uid, s)));
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const end = Date.now() + job.seconds * 1000;
  await Promise.all(
    sessions.map(async (s) => {
      while (Date.now() < end) {
        const t0 = process.hrtime.bigint();
        try {
          await fetchCreds(job.config, job.uid, s);
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        } catch (e) {
          errors++;
          firstError ??= (e as Error).message;
          s.close();
        }
      }
    }),
  );
  sessions.forEach((s) => s.close());
  return { count: latencies.length, errors, latencies, ...(firstError ? { firstError } : {}) };
}


// ---------------------------------------------------------------- parent side




function sh(cmd: string, args: string[], env?: NodeJS.ProcessEnv): string {
  return execFileSync(cmd, args, { encoding: 'utf8', env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function startStore(dir: string, mungeSocket: string, krb5Config: string, extra: string[] = [], name = 'bench-store'): Promise<{ proc: ChildProcess; address: string; log: string }> {
  const log = join(dir, `${name}.log`);
  const state = mkdtempSync(join(dir, 'bench-state-'));
  const fd = openSync(log, 'a');
  // STORE_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the store.
  const nodeArgs = (process.env.STORE_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // The raw fetch path: no job check (it costs one squeue per new job, measured by the keeper
  // benchmark), and a key file of its own.
  const args = ['serve', '--listen', '127.0.0.1:0', '--state-dir', state, '--munge-socket', mungeSocket, '--max-connections', '8192', '--job-bound', 'no', '--key-file', join(dir, 'bench-store.key'), ...extra];
  const proc = spawn(process.execPath, [...nodeArgs, HELPER, ...args], {
    env: { PATH: '/usr/bin:/bin', KRB5_CONFIG: krb5Config },
    stdio: ['ignore', 'ignore', fd],
  });
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const m = /listening on (127\.0\.0\.1:\d+)/.exec(readFileSync(log, 'utf8'));
    if (m) return { proc, address: m[1]!, log };
  }
  throw new Error(`store did not start; see ${log}`);
}

async function openIdle(address: string, n: number): Promise<net.Socket[]> {
  const [host, port] = address.split(':');
  const sockets: net.Socket[] = [];
  for (let i = 0; i < n; i++) {
    sockets.push(
      await new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({ host: host!, port: Number(port) }, () => resolve(s));
        s.once('error', reject);
      }),
    );
  }
  return sockets;
}

async function main(): Promise<void> {
  const secIdx = process.argv.indexOf('--seconds');
  const seconds = secIdx > 0 ? Number(process.argv[secIdx + 1]) : 5;
  const dir = sh(TESTCLUSTER, ['up', '--only', 'kdc,munge', '--dir', mkdtempSync('/tmp/krb5bridge-bench-')]).trim();
  const env = Object.fromEntries(
    readFileSync(join(dir, 'env'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('export '))
      .map((l) => l.slice(7).split('=', 2) as [string, string]),
  );
  let store: Awaited<ReturnType<typeof startStore>> | undefined;
  let metered: Awaited<ReturnType<typeof startStore>> | undefined;
  try {
    const mungeSocket = env.TC_MUNGE_SOCKET!;
    sh(TESTCLUSTER, ['adduser', 'tcbench', '--dir', dir]);
    sh(TESTCLUSTER, ['kinit', 'tcbench', '--dir', dir]);
    const uid = Number(sh('id', ['-u', 'tcbench']).trim());
    store = await startStore(dir, mungeSocket, env.KRB5_CONFIG!);
    // The credential gets there the real way: the user pushes it.
    sh(TESTCLUSTER, ['as', 'tcbench', '--dir', dir, '--', process.execPath, env.TC_HELPER!, '--store', store.address, '--munge-socket', mungeSocket, 'push', '--no-marker']);
    const config: Config = { ...defaultConfig(), store: store.address, munge_socket: mungeSocket, timeout: 30 };

    const rows: string[][] = [['scenario', 'clients', 'fetches/s', 'p50 ms', 'p99 ms', 'errors', 'store CPU us/fetch', 'munged CPU us/fetch']];
    const mungedPid = Number(readFileSync(join(dir, 'pid', 'munged.pid'), 'utf8').trim());
    const run = async (name: string, clients: number, target = store!, cfg = config): Promise<number> => {
      const workers = clients === 1 ? 1 : 2;
      const t0 = Date.now();
      const cpu0 = [cpuSeconds(target.proc.pid!), cpuSeconds(mungedPid)];
      const r = await runWorkers({ config: cfg, uid, clients, seconds }, workers);
      const cpu = [cpuSeconds(target.proc.pid!) - cpu0[0]!, cpuSeconds(mungedPid) - cpu0[1]!];
      const elapsed = (Date.now() - t0) / 1000;
      // Includes the warm-up fetches (one per client), which the CPU counters cannot tell apart.
      const perFetch = (s: number): string => ((s * 1e6) / (r.count + clients)).toFixed(0);
      const sorted = r.latencies.sort((a, b) => a - b);
      const rate = r.count / seconds;
      rows.push([name, String(clients), rate.toFixed(0), pct(sorted, 50).toFixed(2), pct(sorted, 99).toFixed(2), String(r.errors), perFetch(cpu[0]!), perFetch(cpu[1]!)]);
      process.stderr.write(`${name} ${clients}: ${r.count} fetches in ${seconds} s (${elapsed.toFixed(1)} s with warm-up), errors ${r.errors}${r.firstError ? ` (${r.firstError})` : ''}\n`);
      lastRate = rate;
      return pct(sorted, 50);
    };
    let lastRate = 0;
    await run('concurrent', 1);
    await run('concurrent', 100);
    await run('concurrent', 1000);
    const alone = await run('1 client, no idle', 1);
    const idle = await openIdle(store.address, 1000);
    const withIdle = await run('1 client, 1000 idle conns', 1);
    const stillOpen = idle.filter((s) => !s.destroyed).length;
    idle.forEach((s) => s.destroy());
    // Metrics on (a second store, the same key file and user) against off, back to back.
    metered = await startStore(dir, mungeSocket, env.KRB5_CONFIG!, ['--metrics-listen', '127.0.0.1:0'], 'bench-store-metrics');
    sh(TESTCLUSTER, ['as', 'tcbench', '--dir', dir, '--', process.execPath, env.TC_HELPER!, '--store', metered.address, '--munge-socket', mungeSocket, 'push', '--no-marker']);
    await run('metrics off', 100);
    const off = lastRate;
    await run('metrics on', 100, metered, { ...config, store: metered.address });
    const on = lastRate;
    const metricsAt = /metrics on (http:\S+)/.exec(readFileSync(metered.log, 'utf8'))?.[1];
    const t0 = process.hrtime.bigint();
    const scrape = metricsAt ? await (await fetch(metricsAt)).text() : '';
    const scrapeMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const counted = /^krb5bridge_store_requests_total\{op="fetch",result="ok"\} (\d+)$/m.exec(scrape)?.[1];
    printColumns(rows);
    process.stdout.write(`p50 with 1000 idle connections / without: ${(withIdle / alone).toFixed(2)} (${stillOpen} idle connections still open at the end)\n`);
    process.stdout.write(`fetches/s with metrics on / off (100 clients): ${(on / off).toFixed(2)}; one scrape ${scrapeMs.toFixed(1)} ms, ${scrape.length} bytes, fetches counted ${counted ?? '?'}\n`);
    const logText = readFileSync(store.log, 'utf8');
    const refusals = logText.split('\n').filter((l) => / result=E_|closing connection|connection limit/.test(l));
    process.stdout.write(`cores: ${cpus().length}; store log: ${logText.split('\n').length - 1} lines, ${refusals.length} refusals/closures${refusals[0] ? ` (first: ${refusals[0]})` : ''}\n`);
  } finally {
    store?.proc.kill('SIGTERM');
    metered?.proc.kill('SIGTERM');
    sh(TESTCLUSTER, ['down', '--dir', dir, '--rm']);
  }
}

benchMain('store-bench', runClients, main);
