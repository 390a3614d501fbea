// `srun true` on a real throwaway cluster, with and without the plugin, in one run:
//  (a) new jobs from the login node with an unchanged ticket (each srun is a new job), and
//  (b) further steps inside one allocation.
// Variants alternate run by run; plugstack.conf is re-read by every srun, so switching is free.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { settleNode, interleave, printTable, timeCommand } from './lib.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.env.BENCH_RUNS || 20);
const user = 'kbbench';

/** A test cluster in `dir`, driven by the scripts/testcluster of `checkout`. */
function cluster(checkout, dir, label = '') {
  const tc = join(checkout, 'scripts/testcluster');
  /** Run scripts/testcluster quietly; its progress lines are shown only if it fails. */
  const sh = (args) => {
    const r = spawnSync(tc, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) throw new Error(`${label && `${label}: `}scripts/testcluster ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
    return r.stdout.trim();
  };
  const as = (cmd) => [tc, 'as', user, '--dir', dir, '--', ...cmd];
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
      const alloc = spawnSync(tc, ['as', user, '--dir', dir, '--', 'salloc', '-N1', '--no-shell'], { encoding: 'utf8' });
      const jobid = /Granted job allocation (\d+)/.exec(alloc.stderr + alloc.stdout)?.[1];
      if (!jobid) throw new Error(`${label && `${label}: `}salloc gave no allocation: ${alloc.stderr}`);
      return jobid;
    },
    cancel: (jobid) => spawnSync(tc, ['as', user, '--dir', dir, '--', 'scancel', jobid]),
  };
}

const newJob = (c, plugin) => ({ setup: plugin ? c.on : c.off, run: () => timeCommand(c.as(['srun', '-N1', 'true'])) });
const step = (c, jobid, plugin) => ({
  setup: plugin ? c.on : c.off,
  run: () => timeCommand(c.as(['env', `SLURM_JOB_ID=${jobid}`, 'srun', '--overlap', '-N1', 'true'])),
});

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
    c.sh(['down', '--dir', dir]);
  }
}

benchCheckout();
