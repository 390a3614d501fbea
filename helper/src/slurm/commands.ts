/**
 * The one way krb5bridge runs a Slurm command (squeue): by absolute path, no shell, a
 * fixed environment (PATH, LANG=C and SLURM_CONF only: nothing a user or the caller's environment
 * could slip in), a timeout, bounded output. Used by the keeper's sweep (the store's job check asks
 * slurmctld in-process: slurmctld.ts).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';

export interface SlurmOptions {
  /** Directory of squeue (default /usr/bin). */
  slurmBin?: string | undefined;
  /** slurm.conf; undefined = SLURM_CONF of this process, else Slurm's built-in path. */
  slurmConf?: string | undefined;
  /** Kill the command after this long (default 5 s). */
  timeoutMs?: number | undefined;
}

export interface SlurmResult {
  stdout: string;
  stderr: string;
  /** Exit status; -1 when it could not run or was killed (stderr then says why). */
  code: number;
}

export type SlurmRunner = (cmd: 'squeue', args: string[]) => Promise<SlurmResult>;

/** A runner for `o`; `count` is called once per command started (tests and benchmarks count them). */
export function slurmRunner(o: SlurmOptions = {}, count?: () => void): SlurmRunner {
  return (cmd, args) => {
    const env: NodeJS.ProcessEnv = { PATH: '/usr/bin:/bin', LANG: 'C' };
    const conf = o.slurmConf ?? process.env.SLURM_CONF;
    if (conf) env.SLURM_CONF = conf;
    count?.();
    return new Promise((resolve) => {
      execFile(join(o.slurmBin ?? '/usr/bin', cmd), args, { env, timeout: o.timeoutMs ?? 5_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        resolve({ stdout, stderr: err && code === -1 ? `${stderr}${(err as Error).message}` : stderr, code });
      });
    });
  };
}

/** The first line of a failed command's stderr, bounded, for messages. */
export function firstLine(r: SlurmResult): string {
  return r.stderr.trim().split('\n')[0]?.slice(0, 200) ?? '';
}
