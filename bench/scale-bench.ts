/**
 * Many nodes, several stores: the real fetch path (job-bound: slurmctld asked about a real running
 * job) against stores of a real cluster (scripts/testcluster up --etcd 3 --stores 2: Debian's etcd
 * with three members, two `krb5bridge serve` on it), plus a store with storage = dir beside them.
 *
 *   npx esbuild bench/scale-bench.ts --bundle --platform=node --external:koffi --external:etcd3 \
 *     --outfile=build/scale-bench.cjs --log-level=warning && node build/scale-bench.cjs [--seconds 3]
 *
 * Topologies: 1 store (dir), 1 store (etcd), 2 stores (etcd; clients list both, each starts at a
 * random one). Mechanisms: krb5 (a node's keeper with its host keytab, the default where one
 * exists) and munge (a node without one).
 *   fan-out   N simulated nodes (500, 1,000, 5,000) each connect, authenticate and fetch at the
 *             same instant (a job starting on N nodes): completion time, p50/p99 from the start, errors
 *   sustained 100 and 1,000 kept sessions fetching in a loop for --seconds: fetches/s, p50/p99, errors
 * Clients run in 2 worker processes; the machine's 2 cores also run the stores, etcd, munged, slurmctld.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { StoreSession, fetchCreds } from '../helper/src/client/client';
import { Config, loadConfig } from '../helper/src/config/config';
import { Result, benchMain, pct, printColumns, runWorkers } from './workers';

const REPO = resolve(__dirname, '..');
const TESTCLUSTER = join(REPO, 'scripts/testcluster');

interface Job {
  config: Config;
  mech: 'krb5' | 'munge';
  uid: number;
  job: string;
  clients: number;
  mode: 'fanout' | 'sustained';
  seconds: number;
  /** fan-out: every worker fires at this instant (ms since the epoch). */
  startAt: number;
}

// ---------------------------------------------------------------- worker side

async function runClients(j: Job): Promise<Result> {
  const sessions = Array.from({ length: j.clients }, () => new StoreSession(j.config, { role: 'node' }, { mech: j.mech }));
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const fetchOnce = async (s: StoreSession, from: number): Promise<void> => {
    try {
      await fetchCreds(j.config, j.uid, j.job, s);
      latencies.push(performance.now() - from);
    } catch (e) {
      errors++;
      firstError ??= (e as Error).message;
      s.close();
    }
  };
  if (j.mode === 'fanout') {
    // Cold: no connection yet; every node connects, authenticates and fetches at the same instant.
    await new Promise((r) => setTimeout(r, Math.max(0, j.startAt - Date.now())));
    const t0 = performance.now();
    await Promise.all(sessions.map((s) => fetchOnce(s, t0)));
  } else {
    await Promise.all(sessions.map((s) => fetchCreds(j.config, j.uid, j.job, s).catch(() => s.close())));
    const end = Date.now() + j.seconds * 1000;
    await Promise.all(
      sessions.map(async (s) => {
        while (Date.now() < end) await fetchOnce(s, performance.now());
      }),
    );
  }
  sessions.forEach((s) => s.close());
  return { count: latencies.length, errors, latencies, ...(firstError ? { firstError } : {}) };
}

// ---------------------------------------------------------------- parent side

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A store with storage = dir on the same cluster (same policy, slurmctld, munged, KDC). */
async function dirStore(dir: string, env: Record<string, string>): Promise<{ proc: ChildProcess; address: string }> {
  const conf = join(dir, 'bench-dir-store.conf');
  writeFileSync(conf, readFileSync(join(dir, 'krb5bridge.conf'), 'utf8').split('\n').filter((l) => !/^(storage|etcd_)/.test(l)).join('\n'), { mode: 0o644 });
  const log = join(dir, 'log', 'bench-dir-store.log');
  const state = mkdtempSync(join(dir, 'bench-dir-state-'));
  const proc = spawn(env.TC_NODE!, [env.TC_HELPER!, 'serve', '--config', conf, '--listen', '127.0.0.1:0', '--state-dir', state, '--key-file', join(dir, 'bench-dir-store.key')], {
    env: { PATH: '/usr/bin:/bin', KRB5_CONFIG: env.KRB5_CONFIG!, SLURM_CONF: env.SLURM_CONF! },
    stdio: ['ignore', 'ignore', openSync(log, 'a')],
  });
  for (let i = 0; i < 200; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const m = /listening on (127\.0\.0\.1:\d+)/.exec(readFileSync(log, 'utf8'));
    if (m) return { proc, address: m[1]! };
  }
  throw new Error(`the dir store did not start: see ${log}`);
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--seconds');
  const seconds = i > 0 ? Number(process.argv[i + 1]) : 3;
  const dir = sh(TESTCLUSTER, ['up', '--etcd', '3', '--stores', '2', '--dir', mkdtempSync('/tmp/krb5bridge-bench-')]).trim();
  const env = Object.fromEntries([...readFileSync(join(dir, 'env'), 'utf8').matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!.replace(/\\(.)/g, '$1')]));
  let store: ChildProcess | undefined;
  let job: string | undefined;
  try {
    // The workers (forked from here) reach the cluster's KDC and slurmctld with these.
    process.env.SLURM_CONF = env.SLURM_CONF;
    process.env.KRB5_CONFIG = env.KRB5_CONFIG;
    const user = 'kbscale';
    sh(TESTCLUSTER, ['adduser', user, '--dir', dir]);
    sh(TESTCLUSTER, ['kinit', user, '--dir', dir]);
    const uid = Number(sh('id', ['-u', user]).trim());
    const d = await dirStore(dir, env);
    store = d.proc;
    const [s1, s2] = env.TC_STORE_LIST!.split(',');
    for (const target of [d.address, s1!]) sh(TESTCLUSTER, ['as', user, '--dir', dir, '--', env.TC_NODE!, env.TC_HELPER!, 'push', '--no-marker', '--store', target]);
    // The job the fetches are for: running on this node, so the job check lets the node have it.
    job = sh(TESTCLUSTER, ['as', user, '--dir', dir, '--', 'sbatch', '--parsable', '-o', '/dev/null', '--wrap', 'sleep 900']).trim();
    for (let k = 0; k < 100 && sh('squeue', ['-h', '-j', job, '-o', '%T']).trim() !== 'RUNNING'; k++) await new Promise((r) => setTimeout(r, 100));
    const base = loadConfig(join(dir, 'krb5bridge.conf'), {});
    const topologies: [string, string][] = [
      ['1 store, dir', d.address],
      ['1 store, etcd', s1!],
      ['2 stores, etcd', `${s1},${s2}`],
    ];
    const row = (r: Result, from: string[], wall?: number): string[] => {
      const sorted = r.latencies.sort((a, b) => a - b);
      return [...from, wall === undefined ? (r.count / seconds).toFixed(0) : (Math.max(...sorted, 0) / 1000).toFixed(2), pct(sorted, 50).toFixed(1), pct(sorted, 99).toFixed(1), String(r.errors)];
    };
    const fan: string[][] = [['topology', 'auth', 'nodes', 'complete s', 'p50 ms', 'p99 ms', 'errors']];
    const sus: string[][] = [['topology', 'auth', 'sessions', 'fetches/s', 'p50 ms', 'p99 ms', 'errors']];
    const firstErrors: string[] = [];
    // SCALE_ONLY=REGEX runs only the runs whose "topology auth mode N" matches (e.g. "2 stores.*fanout").
    const only = new RegExp(process.env.SCALE_ONLY ?? '');
    for (const [name, list] of topologies) {
      for (const mech of ['krb5', 'munge'] as const) {
        const config: Config = { ...base, store: list, timeout: 10 };
        for (const n of [500, 1000, 5000]) {
          if (!only.test(`${name} ${mech} fanout ${n}`)) continue;
          const r = await runWorkers<Job>({ config, mech, uid, job, clients: n, mode: 'fanout', seconds, startAt: Date.now() + 1500 + n / 2 }, 2);
          fan.push(row(r, [name, mech, String(n)], 0));
          if (r.firstError) firstErrors.push(`${name} ${mech} fan-out ${n}: ${r.firstError}`);
          process.stderr.write(`fan-out ${name} ${mech} ${n}: done\n`);
        }
        for (const n of [100, 1000]) {
          if (!only.test(`${name} ${mech} sustained ${n}`)) continue;
          const r = await runWorkers<Job>({ config, mech, uid, job, clients: n, mode: 'sustained', seconds, startAt: 0 }, 2);
          sus.push(row(r, [name, mech, String(n)]));
          if (r.firstError) firstErrors.push(`${name} ${mech} sustained ${n}: ${r.firstError}`);
          process.stderr.write(`sustained ${name} ${mech} ${n}: done\n`);
        }
      }
    }
    process.stdout.write(`fan-out: N simulated nodes connect, authenticate and fetch at once (job-bound check on a running job); goal: 5,000 within 2.5 s, p99 <= 1 s, 0 errors with 2 stores\n`);
    printColumns(fan);
    process.stdout.write(`\nsustained: kept sessions fetching in a loop for ${seconds} s (the keeper's kept connection); goal: >= 2,500/s at 100 and 1,000, 0 errors\n`);
    printColumns(sus);
    process.stdout.write(`cores: ${cpus().length}${firstErrors.length ? `; first errors: ${firstErrors.slice(0, 4).join(' | ')}` : ''}\n`);
  } finally {
    if (job) execFileSync('scancel', [job], { env: { ...process.env, SLURM_CONF: env.SLURM_CONF } });
    store?.kill('SIGTERM');
    sh(TESTCLUSTER, ['down', '--dir', dir, '--rm']);
  }
}

benchMain('scale-bench', runClients, main);
