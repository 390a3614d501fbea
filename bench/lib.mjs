// Small timing helpers for the benchmarks: wall time of whole commands, medians, ratios.
import { spawnSync } from 'node:child_process';

export function timeCommand(argv, opts = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', ...opts });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) {
    throw new Error(`benchmark command failed (${r.status ?? r.signal}): ${argv.join(' ')}\n${r.stderr}`);
  }
  return { ms, stdout: r.stdout, stderr: r.stderr };
}

export function quantile(values, q) {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i];
}

export const median = (v) => quantile(v, 0.5);

/**
 * Wait (untimed) until the test cluster's node has no job left, epilog included: on one node the
 * previous variant's job end (e.g. a destroy that starts Node) would otherwise be charged to the
 * next variant's run.
 */
export function settleNode(slurmConf, timeoutMs = 15_000, nodes = ['localhost']) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = spawnSync('scontrol', ['-o', 'show', 'node', nodes.join(',')], { encoding: 'utf8', env: { ...process.env, SLURM_CONF: slurmConf } });
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('NodeName='));
    if (lines.length === nodes.length && lines.every((l) => /\bState=IDLE\s/.test(l) && /\bCPUAlloc=0\b/.test(l))) return;
    if (Date.now() > deadline) throw new Error(`the node did not become idle: ${r.stdout}${r.stderr}`);
    spawnSync('sleep', ['0.02']);
  }
}

/**
 * Run the variants in turn (A B C A B C ...) so that drift of a noisy machine hits all alike;
 * `settle()` waits for a quiet starting point (the previous run's job and epilog done), then
 * `setup(name)` prepares a variant before each of its runs (e.g. rewrites plugstack.conf); neither
 * is timed.
 */
export function interleave(variants, runs, warmup = 2, settle = undefined) {
  const samples = Object.fromEntries(variants.map((v) => [v.name, []]));
  for (let i = 0; i < warmup + runs; i++) {
    for (const v of variants) {
      // Settled first: the previous run's job ends (its epilog included) under its own plugstack.
      settle?.();
      v.setup?.();
      const { ms } = v.run();
      if (i >= warmup) samples[v.name].push(ms);
    }
  }
  return samples;
}

/**
 * Medians, p10 and p90 of each variant, and its ratio to `baseline`: a variant's name, or a function
 * giving each variant's own baseline (undefined, or its own name, for a variant that is one).
 */
export function printTable(title, samples, baseline) {
  console.log(`\n${title}`);
  console.log(`  ${'variant'.padEnd(40)} ${'median ms'.padStart(10)} ${'p10'.padStart(8)} ${'p90'.padStart(8)} ${'vs baseline'.padStart(12)}`);
  const baselineOf = typeof baseline === 'function' ? baseline : () => baseline;
  for (const [name, v] of Object.entries(samples)) {
    const ref = baselineOf(name);
    const m = median(v);
    const base = ref === undefined ? m : median(samples[ref]);
    const d = m - base;
    const ratio = ref === undefined || name === ref ? 'baseline' : `${(m / base).toFixed(2)}x (${d >= 0 ? '+' : ''}${d.toFixed(1)} ms)`;
    console.log(`  ${name.padEnd(40)} ${m.toFixed(1).padStart(10)} ${quantile(v, 0.1).toFixed(1).padStart(8)} ${quantile(v, 0.9).toFixed(1).padStart(8)} ${ratio.padStart(12)}`);
  }
}

/**
 * How sure is a ratio of medians median(values)/median(base)? Bootstrap: resample both sets with
 * replacement (a fixed seed, so a run's output is reproducible from its samples) and return the
 * central `level` interval of the resampled ratios.
 */
export function ratioInterval(values, base, level = 0.9, resamples = 2000) {
  let seed = 0x2545f491;
  const random = () => {
    // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const resample = (v) => v.map(() => v[Math.floor(random() * v.length)]);
  const ratios = [];
  for (let i = 0; i < resamples; i++) ratios.push(median(resample(values)) / median(resample(base)));
  return [quantile(ratios, (1 - level) / 2), quantile(ratios, (1 + level) / 2)];
}
