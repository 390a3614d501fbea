/**
 * Which jobs run on a node, as slurmctld sees them (the keeper's sweep). `squeue -w NODE` refuses
 * node names it cannot resolve (seen on Slurm 22.05 with NodeName=localhost: "Invalid node name"),
 * so this asks for every job's id and node list (`squeue -h -o "%A %N"`) and matches the node
 * here. An error means Slurm could not be asked: the caller must then not remove anything.
 */
import { SlurmRunner, firstLine } from './commands';
import { expandHostlist } from './hostlist';

/** Parse `squeue -h -o "%A %N"` output: the ids of jobs whose node list includes `node`. */
export function jobsOnNode(stdout: string, node: string): Set<string> {
  const ids = new Set<string>();
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    const m = /^\s*(\d+)\s*(\S*)\s*$/.exec(line);
    if (!m) throw new Error(`squeue printed "${line.slice(0, 60)}", not "<job id> <node list>"`);
    const nodes = m[2]!;
    if (nodes === '' || nodes === '(null)') continue; // pending: on no node yet
    if (nodes === node || expandHostlist(nodes).includes(node)) ids.add(String(Number(m[1])));
  }
  return ids;
}

export async function runningJobs(run: SlurmRunner, node: string): Promise<Set<string> | { error: string }> {
  const r = await run('squeue', ['-h', '-o', '%A %N']);
  if (r.code !== 0) return { error: `squeue failed (status ${r.code}): ${firstLine(r)}` };
  try {
    return jobsOnNode(r.stdout, node);
  } catch (e) {
    return { error: (e as Error).message };
  }
}
