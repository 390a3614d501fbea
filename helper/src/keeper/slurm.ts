/**
 * Which jobs run on this node, as slurmctld sees them. `squeue -w NODE` refuses node names it
 * cannot resolve (seen on Slurm 22.05 with NodeName=localhost: "Invalid node name"), so this asks
 * for every job's id and node list (`squeue -h -o "%A %N"`) and matches the node here. An error
 * means Slurm could not be asked: the caller must then not sweep anything.
 */
import { execFile } from 'node:child_process';

/** Expand one hostlist term with brackets ("n[01-03,7]x") into names; capped. */
function expandTerm(term: string, out: string[], cap: number): void {
  const open = term.indexOf('[');
  if (open < 0) {
    out.push(term);
    return;
  }
  const close = term.indexOf(']', open);
  if (close < 0) throw new Error(`unbalanced bracket in "${term}"`);
  const head = term.slice(0, open);
  const tail = term.slice(close + 1);
  for (const part of term.slice(open + 1, close).split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`bad range "${part}" in "${term}"`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    const width = m[1]!.length;
    for (let i = lo; i <= hi; i++) {
      if (out.length >= cap) throw new Error(`node list "${term.slice(0, 60)}" is too long`);
      expandTerm(`${head}${String(i).padStart(width, '0')}${tail}`, out, cap);
    }
  }
}

/** Slurm hostlist expression ("a,b[1-3],c") -> names. */
export function expandHostlist(expr: string, cap = 100_000): string[] {
  const terms: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of expr) {
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (ch === ',' && depth === 0) {
      terms.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur !== '') terms.push(cur);
  const out: string[] = [];
  for (const t of terms) expandTerm(t, out, cap);
  return out;
}

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

export function runningJobs(node: string, timeoutMs: number, squeue = 'squeue'): Promise<Set<string> | { error: string }> {
  return new Promise((resolve) => {
    execFile(squeue, ['-h', '-o', '%A %N'], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: process.env }, (err, stdout, stderr) => {
      if (err) {
        resolve({ error: `${squeue} failed: ${(stderr || err.message).trim().split('\n')[0]}` });
        return;
      }
      try {
        resolve(jobsOnNode(stdout, node));
      } catch (e) {
        resolve({ error: (e as Error).message });
      }
    });
  });
}
