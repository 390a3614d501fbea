/**
 * Client worker processes for the store benchmarks: the parent forks this same script with
 * `--worker`, hands each worker a share of the clients, and merges what they measured. The client
 * side then uses both cores instead of one Node thread.
 */
import { ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Result {
  count: number;
  errors: number;
  firstError?: string;
  latencies: number[];
}

/** In a worker (`--worker`): run the job the parent sends, answer with the result, exit. True in a worker. */
function serveAsWorker<J>(runClients: (job: J) => Promise<Result>): boolean {
  if (!process.argv.includes('--worker')) return false;
  process.on('message', (job: J) => {
    runClients(job).then(
      (r) => process.send!(r, () => process.exit(0)),
      (e) => process.send!({ count: 0, errors: 1, firstError: String(e), latencies: [] }, () => process.exit(0)),
    );
  });
  return true;
}

/** In the parent: split `job.clients` over `workers` processes of this script; merge their results. */
export function runWorkers<J extends { clients: number }>(job: J, workers: number): Promise<Result> {
  const per = Math.ceil(job.clients / workers);
  const parts: Promise<Result>[] = [];
  for (let i = 0; i < workers; i++) {
    const clients = Math.min(per, job.clients - i * per);
    if (clients <= 0) break;
    parts.push(
      new Promise((resolve, reject) => {
        const child: ChildProcess = fork(process.argv[1]!, ['--worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        child.once('message', (r) => resolve(r as Result));
        child.once('exit', (code) => (code ? reject(new Error(`worker exited ${code}`)) : undefined));
        child.send({ ...job, clients });
      }),
    );
  }
  return Promise.all(parts).then((rs) => ({
    count: rs.reduce((a, r) => a + r.count, 0),
    errors: rs.reduce((a, r) => a + r.errors, 0),
    firstError: rs.find((r) => r.firstError)?.firstError,
    latencies: rs.flatMap((r) => r.latencies),
  }));
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The p-th percentile of an ascending array. */
export function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Rows of cells as right-aligned columns, the first row the header. */
export function printColumns(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  process.stdout.write(rows.map((row) => row.map((c, i) => c.padStart(widths[i]!)).join('  ')).join('\n') + '\n');
}

/** The benchmark's entry point: serve as a worker when forked as one, else run `main`. */
export function benchMain<J>(name: string, runClients: (job: J) => Promise<Result>, main: () => Promise<void>): void {
  if (serveAsWorker(runClients)) return;
  main().catch((e) => {
    process.stderr.write(`${name}: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
