/**
 * The one way krb5bridge asks Slurm (squeue, sinfo): the command by absolute path, no shell, a
 * fixed environment (PATH, LANG=C and SLURM_CONF only: nothing a user or the caller's environment
 * could slip in), a timeout, bounded output. Used by the store's job check and the keeper's sweep.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';

export interface SlurmOptions {
  /** Directory of squeue and sinfo (default /usr/bin). */
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

export type SlurmRunner = (cmd: 'squeue' | 'sinfo', args: string[]) => Promise<SlurmResult>;

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

/**
 * Did the command fail because slurmctld could not be reached (down, or not answering in time)?
 * Slurm's clients say "Unable to contact slurm controller"; a command we killed at its timeout
 * (code -1) waited for it.
 */
export function slurmctldUnreachable(r: SlurmResult): boolean {
  return r.code === -1 || /Unable to contact slurm controller|Socket timed out|Connection refused/i.test(r.stderr);
}

/** The first line of a failed command's stderr, bounded, for messages. */
export function firstLine(r: SlurmResult): string {
  return r.stderr.trim().split('\n')[0]?.slice(0, 200) ?? '';
}
