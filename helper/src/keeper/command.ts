/**
 * The site's refresh command (config `refresh_command`, e.g. an aklog wrapper), run as the job's
 * user after each materialise and refresh: no shell, absolute path, minimal environment with the
 * job's KRB5CCNAME, supplementary groups dropped (libuv), killed after a timeout. The command
 * must be root's and not writable by others: the keeper runs it for every user.
 */
import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { Krb5BridgeError } from '../errors';
import { openTrusted } from '../util/trustedpath';

/** The command must be a trusted path (root's, not writable by group or others, no symlink) and executable. */
export function checkRefreshCommand(path: string): void {
  const { fd, stat } = openTrusted(path, { what: 'refresh_command', type: 'file', forbid: 0o022, code: 'E_CONFIG', owners: [] });
  closeSync(fd);
  if (!(stat.mode & 0o111)) throw new Krb5BridgeError('E_CONFIG', `refresh_command ${path} is not executable; chmod 0755 it`);
}

export interface CommandRun {
  command: string;
  uid: number;
  gid: number;
  job: string;
  ccache: string;
  /** Why it runs: materialise or refresh (the command gets it as its one argument). */
  event: 'materialise' | 'refresh';
  timeoutMs: number;
}

/** Resolves with a one-line outcome; never rejects. */
export function runRefreshCommand(r: CommandRun): Promise<{ ok: boolean; what: string }> {
  return new Promise((resolve) => {
    let err = '';
    let timedOut = false;
    const env: Record<string, string> = {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      KRB5CCNAME: `FILE:${r.ccache}`,
      SLURM_JOB_ID: r.job,
      KRB5BRIDGE_EVENT: r.event,
    };
    if (process.env.KRB5_CONFIG) env.KRB5_CONFIG = process.env.KRB5_CONFIG;
    let child;
    try {
      child = spawn(r.command, [r.event], { uid: r.uid, gid: r.gid, env, cwd: '/', stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    } catch (e) {
      resolve({ ok: false, what: `cannot start: ${(e as Error).message}` });
      return;
    }
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL'); // its whole process group
      } catch {
        /* gone already */
      }
    }, r.timeoutMs);
    child.stderr!.on('data', (d: Buffer) => {
      if (err.length < 300) err += d.toString('utf8');
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ ok: false, what: `cannot start: ${e.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const tail = err.trim().replace(/\s+/g, ' ').slice(0, 200);
      if (timedOut) resolve({ ok: false, what: `killed after ${r.timeoutMs} ms` });
      else if (code === 0) resolve({ ok: true, what: 'exit 0' });
      else resolve({ ok: false, what: `${signal ? `signal ${signal}` : `exit ${code}`}${tail ? `: ${tail}` : ''}` });
    });
  });
}
