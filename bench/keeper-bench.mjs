// The node keeper on a real throwaway cluster:
//  (a) `srun true` as the first step of a new job: no plugin / the plugin loaded but told --krb5=no /
//      plugin with the keeper (the default: job-bound, the store asks slurmctld) / plugin without
//      the keeper (keeper_socket pointed at nothing, so the plugin starts the Node helper); then
//      where the plugin's milliseconds go: the push-marker check (bench/marker-bench.c), the
//      keeper's materialise, the store's handling of the fetch and its job check (their logs), and
//      the previous job's epilog (two jobs back to back, and the keeper's destroy);
//  (b) a keeper's memory (RSS) tracking 0, 1, 100 and 1,000 job ccaches, and the CPU of one
//      refresh cycle (what the keeper does every tick: scan the job records, refresh what is due).
// Variants alternate run by run; plugstack.conf is re-read by every srun, so switching is free.
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { settleNode, interleave, median, printTable, timeCommand } from './lib.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const tc = join(repo, 'scripts/testcluster');
const runs = Number(process.env.BENCH_RUNS || 20);
const user = 'kbkbench';

function sh(args) {
  // Its progress lines (one per plugstack switch) only on failure: the tables stay readable.
  const r = spawnSync(tc, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`scripts/testcluster ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout.trim();
}

function ask(sock, line) {
  return new Promise((res, rej) => {
    const s = connect(sock);
    let b = '';
    s.on('data', (d) => (b += d));
    s.on('end', () => res(b.trim()));
    s.on('error', rej);
    s.write(`${line}\n`);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A keeper of its own over N fake job ccaches (copies of a real one); returns its stats. */
async function keeperWith(dir, n, uid, gid, ccacheBytes) {
  const base = mkdtempSync('/tmp/krb5bridge-kbench-');
  const state = join(base, 'state');
  const cc = join(base, 'cc');
  mkdirSync(join(state, 'jobs'), { recursive: true, mode: 0o700 });
  chmodSync(state, 0o700);
  chmodSync(base, 0o755);
  mkdirSync(cc, { mode: 0o1777 });
  chmodSync(cc, 0o1777);
  for (let i = 1; i <= n; i++) {
    const job = String(100000 + i);
    const path = join(cc, `krb5cc_${uid}_${job}_Bench0`);
    writeFileSync(path, ccacheBytes, { mode: 0o600 });
    chownSync(path, uid, gid);
    writeFileSync(join(state, 'jobs', job), `${uid} ${path}\n`, { mode: 0o600 });
  }
  const sock = join(state, 'keeper.sock');
  const env = readFileSync(join(dir, 'env'), 'utf8');
  const krb5conf = /KRB5_CONFIG=(\S+)/.exec(env)[1];
  const p = spawn('node', [join(repo, 'build/krb5bridge.cjs'), 'keeper', '--config', join(dir, 'krb5bridge.conf'), '--socket', sock,
    '--state-dir', state, '--ccache-dir', cc, '--no-sweep', '--tick', '1'], { env: { PATH: process.env.PATH, KRB5_CONFIG: krb5conf }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => (err += d));
  for (let i = 0; i < 200 && !err.includes('keeper listening'); i++) await sleep(50);
  if (!err.includes('keeper listening')) throw new Error(`bench keeper did not start: ${err}`);
  await sleep(3000); // a few refresh cycles, then a settled heap
  const cycles = [];
  for (let i = 0; i < 5; i++) {
    await sleep(1100);
    cycles.push(Number(/last_cycle_cpu_us=(\d+)/.exec(await ask(sock, 'stats'))[1]));
  }
  const stats = await ask(sock, 'stats');
  p.kill('SIGTERM');
  await new Promise((r) => p.on('exit', r));
  rmSync(base, { recursive: true, force: true });
  return { jobs: Number(/jobs=(\d+)/.exec(stats)[1]), rssKib: Number(/rss_kib=(\d+)/.exec(stats)[1]), heapKib: Number(/heap_kib=(\d+)/.exec(stats)[1]), cycleUs: median(cycles) };
}

const dir = mkdtempSync('/tmp/krb5bridge-bench-');
sh(['up', '--dir', dir]);
try {
  sh(['adduser', user, '--dir', dir]);
  sh(['kinit', user, '--dir', dir]);
  const as = (cmd) => [tc, 'as', user, '--dir', dir, '--', ...cmd];
  const plug = (args) => () => sh(['plugstack', '--dir', dir, ...args]);

  console.log(`keeper benchmark: ${runs} runs per variant after 2 warm-up runs, variants interleaved`);
  const srun = (extra = []) => () => timeCommand(as(['srun', '-N1', ...extra, 'true']));
  const storeMark = readFileSync(join(dir, 'log', 'store.log'), 'utf8').length;
  const a = interleave(
    [
      { name: 'new job, no plugin', setup: plug(['--off']), run: srun() },
      { name: 'new job, plugin loaded, --krb5=no', setup: plug([]), run: srun(['--krb5=no']) },
      { name: 'new job, plugin + keeper', setup: plug([]), run: srun() },
      { name: 'new job, plugin, no keeper (Node helper)', setup: plug(['--plugin-arg', 'keeper_socket=/nonexistent/keeper.sock']), run: srun() },
    ],
    runs,
    2,
    () => settleNode(join(dir, 'slurm.conf')),
  );
  printTable('(a) srun -N1 true: the first step of a new job on the node (job check on)', a, 'new job, no plugin');

  // Where the milliseconds go, from the parts' own measurements in this run.
  const keeperLog = readFileSync(join(dir, 'log', 'keeper.log'), 'utf8');
  const served = [...keeperLog.matchAll(/materialise \d+ \d+ \d+ -> ok .* \((\d+) ms\)/g)].map((m) => Number(m[1]));
  const destroyed = [...keeperLog.matchAll(/destroy \d+ \d+ -> ok .* \((\d+) ms\)/g)].map((m) => Number(m[1]));
  const fetches = readFileSync(join(dir, 'log', 'store.log'), 'utf8').slice(storeMark).split('\n').filter((l) => l.includes('op=fetch') && l.includes('result=ok'));
  const storeMs = fetches.map((l) => Number(/ ms=([\d.]+)/.exec(l)?.[1] ?? NaN)).filter((x) => !Number.isNaN(x));
  const checkMs = fetches.map((l) => Number(/ jobcheck_ms=([\d.]+)/.exec(l)?.[1] ?? NaN)).filter((x) => !Number.isNaN(x));
  // Built here, run as the user from the cluster's directory (a checkout under /root is closed to users).
  spawnSync('make', ['-s', 'build/marker-bench'], { cwd: repo, stdio: 'inherit' });
  copyFileSync(join(repo, 'build/marker-bench'), join(dir, 'marker-bench'));
  chmodSync(join(dir, 'marker-bench'), 0o755);
  const marker = spawnSync(tc, ['as', user, '--dir', dir, '--', join(dir, 'marker-bench'), readFileSync(join(dir, 'env'), 'utf8').match(/TC_STORE=(\S+)/)[1], join(dir, 'markers'), '500'], { encoding: 'utf8' });
  const markerUs = Number(marker.stdout.trim());
  const m = (name) => median(a[name]);
  const total = m('new job, plugin + keeper') - m('new job, no plugin');
  const idle = m('new job, plugin loaded, --krb5=no') - m('new job, no plugin');
  const keeper = median(served);
  const line = (what, ms) => console.log(`  ${what.padEnd(64)} ${ms.toFixed(2).padStart(7)} ms`);
  console.log(`\n  where the plugin's +${total.toFixed(1)} ms go (medians of this run):`);
  line('push-marker check in srun (C: libkrb5 reads the TGT, the marker file)', markerUs / 1000);
  line('plugin loaded in srun and slurmstepd, hooks doing nothing (--krb5=no)', idle);
  line('keeper materialise (its log: socket to answer)', keeper);
  line('  of it, the store handling the fetch (its log, ms=)', median(storeMs));
  line('    of it, the job check: slurm_load_job in-process (jobcheck_ms=)', median(checkMs));
  line('  of it, the keeper itself (round trip, KRB-CRED, ccache and record)', keeper - median(storeMs));
  line('the rest: plugin asking the keeper, checks, KRB5CCNAME', total - idle - keeper - markerUs / 1000);
  line("the previous job's epilog: the keeper's destroy (its log)", median(destroyed));
  console.log(`  (${served.length} materialise, ${fetches.length} store fetches, ${destroyed.length} destroys in the logs)`);

  // The previous job's epilog: a new job right after another (no wait for the node to settle).
  const backToBack = (extra) => () => {
    timeCommand(as(['srun', '-N1', ...extra, 'true']));
    return timeCommand(as(['srun', '-N1', ...extra, 'true']));
  };
  const e = interleave(
    [
      { name: 'job right after a job, no plugin', setup: plug(['--off']), run: backToBack([]) },
      { name: 'job right after a job, plugin + keeper', setup: plug([]), run: backToBack([]) },
    ],
    runs,
    2,
    () => settleNode(join(dir, 'slurm.conf')),
  );
  printTable("(a') srun -N1 true right after the previous job (its epilog may still run)", e, 'job right after a job, no plugin');

  const uid = Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', user], { encoding: 'utf8' }).stdout.trim());
  const bytes = readFileSync(join(dir, 'users', user, 'ccache'));
  console.log('\n(b) one keeper process tracking N job ccaches (median of 5 idle refresh cycles)');
  console.log(`  ${'jobs'.padStart(6)} ${'RSS KiB'.padStart(10)} ${'heap KiB'.padStart(10)} ${'KiB/job vs 0'.padStart(14)} ${'cycle CPU us'.padStart(14)}`);
  let base;
  for (const n of [0, 1, 100, 1000]) {
    const r = await keeperWith(dir, n, uid, gid, bytes);
    base ??= r;
    const per = n === 0 ? 'baseline' : ((r.rssKib - base.rssKib) / n).toFixed(2);
    console.log(`  ${String(r.jobs).padStart(6)} ${String(r.rssKib).padStart(10)} ${String(r.heapKib).padStart(10)} ${per.padStart(14)} ${String(r.cycleUs).padStart(14)}`);
  }
} finally {
  sh(['down', '--dir', dir, '--rm']);
}
