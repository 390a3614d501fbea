// `srun true` on a real throwaway cluster, with and without the plugin, in one run:
//  (a) new jobs from the login node with an unchanged ticket (each srun is a new job), and
//  (b) further steps inside one allocation.
// Variants alternate run by run; plugstack.conf is re-read by every srun, so switching is free.
// BENCH_BASELINE=<git rev>: the same measurements on two clusters side by side, this checkout's and
// one of that revision (its own build and its own scripts/testcluster: plugin, helper, store and
// keeper of one revision in each cluster), interleaved run by run, and the ratio current/baseline
// of each srun figure.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkoutBaseline, describeCheckout, resolveRevision } from './baseline.mjs';
import { settleNode, interleave, median, printTable, ratioInterval, timeCommand } from './lib.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.env.BENCH_RUNS || 20);
const user = 'kbbench';

/** A signal stopped the comparison with a baseline (after it took down what it had made). */
class Stopped extends Error {}

/**
 * A test cluster in `dir`, driven by the scripts/testcluster of `checkout`; the commands it times
 * run as the user through `testcluster as` of `runner` (by default the same checkout).
 */
function cluster(checkout, dir, label = '', runner = checkout) {
  const tc = join(checkout, 'scripts/testcluster');
  const run = join(runner, 'scripts/testcluster');
  /** Run scripts/testcluster quietly; its progress lines are shown only if it fails. */
  const sh = (args) => {
    const r = spawnSync(tc, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) throw new Error(`${label && `${label}: `}scripts/testcluster ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
    return r.stdout.trim();
  };
  const as = (cmd) => [run, 'as', user, '--dir', dir, '--', ...cmd];
  return {
    dir,
    sh,
    as,
    slurmConf: join(dir, 'slurm.conf'),
    on: () => sh(['plugstack', '--dir', dir]),
    off: () => sh(['plugstack', '--dir', dir, '--off']),
    /** A user with a ticket in its ccache. */
    addUser() {
      sh(['adduser', user, '--dir', dir]);
      sh(['kinit', user, '--dir', dir]);
    },
    /** An allocation that holds the node, its job id. */
    allocate() {
      const [cmd, ...args] = as(['salloc', '-N1', '--no-shell']);
      const alloc = spawnSync(cmd, args, { encoding: 'utf8' });
      const jobid = /Granted job allocation (\d+)/.exec(alloc.stderr + alloc.stdout)?.[1];
      if (!jobid) throw new Error(`${label && `${label}: `}salloc gave no allocation: ${alloc.stderr}`);
      return jobid;
    },
    cancel: (jobid) => {
      const [cmd, ...args] = as(['scancel', jobid]);
      return spawnSync(cmd, args);
    },
  };
}

const newJob = (c, plugin) => ({ setup: plugin ? c.on : c.off, run: () => timeCommand(c.as(['srun', '-N1', 'true'])) });
const step = (c, jobid, plugin) => ({
  setup: plugin ? c.on : c.off,
  run: () => timeCommand(c.as(['env', `SLURM_JOB_ID=${jobid}`, 'srun', '--overlap', '-N1', 'true'])),
});

/**
 * The slurm.conf settings of two clusters that differ, each one's directory, ports and name aside:
 * "NAME: old words | new words" for each line of that NAME, with only the words that differ.
 */
function slurmDifferences(oldConf, oldDir, curConf, curDir) {
  const own = new Set(['ClusterName', 'SlurmctldPort', 'SlurmdPort']);
  const settings = (conf, dir) =>
    new Map(
      conf
        .split('\n')
        .filter((l) => /^\w+=/.test(l) && !own.has(l.split('=')[0]))
        .map((l) => [l.split('=')[0], l.replaceAll(dir, 'DIR').split(/\s+/)]),
    );
  const a = settings(oldConf, oldDir);
  const b = settings(curConf, curDir);
  const only = (x, y) => (x ?? ['-']).filter((w) => !(y ?? []).includes(w)).join(' ') || '-';
  return [...new Set([...a.keys(), ...b.keys()])]
    .filter((k) => a.get(k)?.join(' ') !== b.get(k)?.join(' '))
    .map((k) => `${k}: ${only(a.get(k), b.get(k))} | ${only(b.get(k), a.get(k))}`);
}

/** Today's benchmark: this checkout's cluster alone, the plugin against no plugin. */
function benchCheckout() {
  const dir = mkdtempSync('/tmp/krb5bridge-bench-');
  const c = cluster(repo, dir);
  c.sh(['up', '--dir', dir]);
  let jobid;
  try {
    c.addUser();
    console.log(`srun benchmark: ${runs} runs per variant after 2 warm-up runs, variants interleaved`);
    const a = interleave(
      [
        { name: 'new job, no plugin', ...newJob(c, false) },
        { name: 'new job, plugin (ticket already stored)', ...newJob(c, true) },
      ],
      runs,
      2,
      () => settleNode(c.slurmConf),
    );
    printTable('(a) srun -N1 true as a new job from the login node', a, 'new job, no plugin');

    c.on();
    jobid = c.allocate();
    const b = interleave(
      [
        { name: 'step in allocation, no plugin', ...step(c, jobid, false) },
        { name: 'step in allocation, plugin', ...step(c, jobid, true) },
      ],
      runs,
    );
    printTable(`(b) srun true as a further step of job ${jobid}`, b, 'step in allocation, no plugin');
  } finally {
    if (jobid) c.cancel(jobid);
    c.sh(['down', '--dir', dir, '--rm']);
  }
}

/**
 * BENCH_BASELINE: the same measurements on this checkout's cluster and on a cluster of revision
 * `rev`, run by run: one round runs every variant of both clusters once, the clusters' order
 * alternating from round to round. Between rounds the event loop turns, so that SIGINT, SIGTERM or
 * SIGHUP stop the benchmark and everything it made is still taken down.
 */
async function benchAgainst(rev) {
  const short = resolveRevision(repo, rev);
  let stopping;
  const onSignal = (sig) => (stopping = sig);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, onSignal);
  const checkpoint = async () => {
    await new Promise((r) => setImmediate(r));
    if (stopping) throw new Stopped(`stopped by ${stopping}`);
  };
  const rounds = async (variantsOf, clusters, settle) => {
    const names = clusters.flatMap(variantsOf).map((v) => v.name);
    const samples = Object.fromEntries(names.map((n) => [n, []]));
    for (let i = 0; i < 2 + runs; i++) {
      const order = i % 2 ? [...clusters].reverse() : clusters;
      const round = interleave(order.flatMap(variantsOf), 1, 0, settle);
      if (i >= 2) for (const n of names) samples[n].push(...round[n]);
      await checkpoint();
    }
    return samples;
  };

  const current = describeCheckout(repo);
  let baseline, old, cur;
  const jobs = []; // [cluster, jobid]
  try {
    baseline = checkoutBaseline(repo, rev);
    await checkpoint();
    // Both cluster directories sit directly in /tmp, where the current scripts/testcluster looks for
    // clusters of older copies before it removes a user. The baseline's cluster comes up first (the
    // current one has no Prolog unless a test asks for it, `up --prolog`: both run the same setup).
    // Every timed command of both goes through this checkout's `testcluster as` (a bash script that
    // grew: its start-up alone differs by about a millisecond); it does on both what the baseline's
    // own did, runuser with the same clean environment.
    old = cluster(baseline.repo, mkdtempSync('/tmp/krb5bridge-bench-'), `baseline ${short}`, repo);
    old.sh(['up', '--dir', old.dir]);
    const oldConf = readFileSync(old.slurmConf, 'utf8');
    cur = cluster(repo, mkdtempSync('/tmp/krb5bridge-bench-'), 'current');
    cur.sh(['up', '--dir', cur.dir]);
    // The current cluster's adduser first: it registers the user (its `down` removes it once no live
    // cluster uses it); the baseline's adduser then finds the user there.
    cur.addUser();
    old.addUser();
    await checkpoint();
    const clusters = [[short, old], ['current', cur]];
    const differ = slurmDifferences(oldConf, old.dir, readFileSync(cur.slurmConf, 'utf8'), cur.dir);
    const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
    console.log(`srun benchmark: the current checkout (${current}) against ${short}, each on its own cluster;`);
    console.log(`  ${runs} runs per variant after 2 warm-up runs, variants of both clusters interleaved; load average ${load()}`);
    console.log(`  slurm.conf settings that differ (${short} | current): ${differ.join('; ') || 'none'}`);
    const baselineOf = (name) => (name.startsWith('current: ') ? `${short}: ${name.slice('current: '.length)}` : undefined);

    const a = await rounds(
      ([label, c]) => [
        { name: `${label}: new job, no plugin`, ...newJob(c, false) },
        { name: `${label}: new job, plugin (ticket stored)`, ...newJob(c, true) },
      ],
      clusters,
      () => clusters.forEach(([, c]) => settleNode(c.slurmConf)),
    );
    printTable(`(a) srun -N1 true as a new job from the login node (${short} vs current)`, a, baselineOf);

    const alloc = new Map();
    for (const [label, c] of clusters) {
      c.on();
      const jobid = c.allocate();
      jobs.push([c, jobid]);
      alloc.set(label, jobid);
    }
    const b = await rounds(
      ([label, c]) => [
        { name: `${label}: step in allocation, no plugin`, ...step(c, alloc.get(label), false) },
        { name: `${label}: step in allocation, plugin`, ...step(c, alloc.get(label), true) },
      ],
      clusters,
    );
    printTable(`(b) srun true as a further step of one allocation (${short} vs current)`, b, baselineOf);

    const figures = [
      ['(a)', a, 'new job, no plugin'],
      ['(a)', a, 'new job, plugin (ticket stored)'],
      ['(b)', b, 'step in allocation, no plugin'],
      ['(b)', b, 'step in allocation, plugin'],
    ];
    console.log(`\ncurrent / ${short}, ratio of medians (90% bootstrap interval); above 1.05 is more than 5% worse`);
    const worse = [];
    for (const [part, samples, figure] of figures) {
      const cur = samples[`current: ${figure}`];
      const old = samples[`${short}: ${figure}`];
      const ratio = median(cur) / median(old);
      const [lo, hi] = ratioInterval(cur, old);
      const name = `${part} ${figure}`;
      if (ratio > 1.05) worse.push(`${name} ${ratio.toFixed(3)}x`);
      console.log(`  ${name.padEnd(40)} ${ratio.toFixed(3)}x (${lo.toFixed(2)}-${hi.toFixed(2)})  ${ratio > 1.05 ? 'MORE THAN 5% WORSE' : 'not more than 5% worse'}`);
    }
    const own = (samples, label, on, off) => (median(samples[`${label}: ${on}`]) - median(samples[`${label}: ${off}`])).toFixed(1);
    console.log(
      `  the plugin's own time (median with minus median without): (a) ${short} ${own(a, short, 'new job, plugin (ticket stored)', 'new job, no plugin')} ms,` +
        ` current ${own(a, 'current', 'new job, plugin (ticket stored)', 'new job, no plugin')} ms;` +
        ` (b) ${short} ${own(b, short, 'step in allocation, plugin', 'step in allocation, no plugin')} ms,` +
        ` current ${own(b, 'current', 'step in allocation, plugin', 'step in allocation, no plugin')} ms`,
    );
    console.log(`  load average at the end ${load()}`);
    console.log(
      worse.length === 0
        ? `verdict: no srun figure of the current checkout is more than 5% worse than ${short} (same run).`
        : `verdict: ${worse.length} srun figure(s) of the current checkout more than 5% worse than ${short} (same run): ${worse.join(', ')}.`,
    );
  } finally {
    // The baseline's cluster goes first: the current one's `down` removes the shared user once no
    // live cluster uses it. Each step runs whatever happened to the one before.
    const attempt = (what, fn) => {
      try {
        fn();
      } catch (e) {
        console.error(`warning: ${what}: ${e.message}`);
      }
    };
    for (const [c, jobid] of jobs) attempt(`scancel ${jobid}`, () => c.cancel(jobid));
    for (const c of [old, cur]) if (c) attempt(`taking down the cluster ${c.dir}`, () => c.sh(['down', '--dir', c.dir, '--rm']));
    if (baseline) attempt(`removing the baseline worktree`, () => baseline.remove());
  }
}

if (process.env.BENCH_BASELINE) {
  await benchAgainst(process.env.BENCH_BASELINE).catch((e) => {
    if (!(e instanceof Stopped)) throw e;
    console.error(`srun benchmark: ${e.message}; it took down what it had made (a warning above names anything left)`);
    process.exitCode = 1;
  });
} else benchCheckout();
