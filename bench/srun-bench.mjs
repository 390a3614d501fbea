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
const tc = join(repo, 'scripts/testcluster');
const runs = Number(process.env.BENCH_RUNS || 20);
const user = 'kbbench';

/** Run scripts/testcluster quietly; its progress lines are shown only if it fails. */
function sh(args) {
  const r = spawnSync(tc, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`scripts/testcluster ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout.trim();
}

const dir = mkdtempSync('/tmp/krb5bridge-bench-');
sh(['up', '--dir', dir]);
let jobid;
try {
  sh(['adduser', user, '--dir', dir]);
  sh(['kinit', user, '--dir', dir]);
  const as = (cmd) => [tc, 'as', user, '--dir', dir, '--', ...cmd];
  const off = () => sh(['plugstack', '--dir', dir, '--off']);
  const on = () => sh(['plugstack', '--dir', dir]);

  console.log(`srun benchmark: ${runs} runs per variant after 2 warm-up runs, variants interleaved`);
  const a = interleave(
    [
      { name: 'new job, no plugin', setup: off, run: () => timeCommand(as(['srun', '-N1', 'true'])) },
      { name: 'new job, plugin (ticket already stored)', setup: on, run: () => timeCommand(as(['srun', '-N1', 'true'])) },
    ],
    runs,
    2,
    () => settleNode(join(dir, 'slurm.conf')),
  );
  printTable('(a) srun -N1 true as a new job from the login node', a, 'new job, no plugin');

  on();
  const alloc = spawnSync(tc, ['as', user, '--dir', dir, '--', 'salloc', '-N1', '--no-shell'], { encoding: 'utf8' });
  jobid = /Granted job allocation (\d+)/.exec(alloc.stderr + alloc.stdout)?.[1];
  if (!jobid) throw new Error(`salloc gave no allocation: ${alloc.stderr}`);
  const step = () => timeCommand(as(['env', `SLURM_JOB_ID=${jobid}`, 'srun', '--overlap', '-N1', 'true']));
  const b = interleave(
    [
      { name: 'step in allocation, no plugin', setup: off, run: step },
      { name: 'step in allocation, plugin', setup: on, run: step },
    ],
    runs,
  );
  printTable(`(b) srun true as a further step of job ${jobid}`, b, 'step in allocation, no plugin');
} finally {
  if (jobid) spawnSync(tc, ['as', user, '--dir', dir, '--', 'scancel', jobid]);
  sh(['down', '--dir', dir]);
}
