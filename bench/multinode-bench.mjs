// `srun -N3 true` on a real 3-node cluster (scripts/testcluster up --nodes 3: each node its own
// namespaces, munged, slurmd and keeper), with and without the plugin, in one run: a new job on
// three nodes, each node's keeper materialising its own ccache (krb5 with its host keytab), the
// store checking the job once for the three fetches. Variants alternate run by run.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { interleave, median, printTable, settleNode, timeCommand } from './lib.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const tc = join(repo, 'scripts/testcluster');
const runs = Number(process.env.BENCH_RUNS || 20);
const user = 'kbmnbench';
const nodes = ['node1', 'node2', 'node3'];

function sh(args) {
  const r = spawnSync(tc, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`scripts/testcluster ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout.trim();
}

const dir = mkdtempSync('/tmp/krb5bridge-bench-');
sh(['up', '--nodes', '3', '--dir', dir]);
try {
  sh(['adduser', user, '--dir', dir]);
  sh(['kinit', user, '--dir', dir]);
  const as = (cmd) => [tc, 'as', user, '--dir', dir, '--', ...cmd];
  const plug = (args) => () => sh(['plugstack', '--dir', dir, ...args]);
  console.log(`multi-node benchmark: ${runs} runs per variant after 2 warm-up runs, variants interleaved`);
  const a = interleave(
    [
      { name: 'srun -N3 true, no plugin', setup: plug(['--off']), run: () => timeCommand(as(['srun', '-N3', 'true'])) },
      { name: 'srun -N3 true, plugin + keepers', setup: plug([]), run: () => timeCommand(as(['srun', '-N3', 'true'])) },
    ],
    runs,
    2,
    () => settleNode(join(dir, 'slurm.conf'), 15_000, nodes),
  );
  printTable('new job on 3 nodes (each node: its own keeper, host keytab, /tmp)', a, 'srun -N3 true, no plugin');
  const per = nodes.map((n) => median([...readFileSync(join(dir, 'log', `keeper-${n}.log`), 'utf8').matchAll(/materialise \d+ \d+ \d+ -> ok .* \((\d+) ms\)/g)].map((m) => Number(m[1]))));
  console.log(`  each keeper's materialise (its log, median): ${nodes.map((n, i) => `${n} ${per[i]} ms`).join(', ')}`);
} finally {
  sh(['down', '--dir', dir, '--rm']);
}
