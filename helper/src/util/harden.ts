/**
 * Process hardening applied first thing by every verb (docs/security.md, "Root paths"):
 * - RLIMIT_CORE = 0 (soft and hard): a crash of a process holding tickets, keys or a decrypted
 *   store record never writes a core file (a core in the job's working directory, or picked up
 *   by a crash reporter, would hold them in clear). Every verb: a user's push holds a TGT too.
 * - prctl(PR_SET_DUMPABLE, 0) when running as root: besides no core, /proc/PID/{mem,environ,maps}
 *   and ptrace need CAP_SYS_PTRACE, so a root-owned process that merely shares our uid (a
 *   confined or capability-dropped daemon) cannot read our memory. Not done for users: their
 *   own tools (strace of their push) keep working, and they own the ticket anyway.
 * The process reads its own /proc/self freely whatever the flag; SO_PEERCRED is unaffected.
 * Cost: the libc binding table and two syscalls (bench: `scripts/bench` harden line).
 */
import { PR_GET_DUMPABLE, PR_SET_DUMPABLE, RLIMIT_CORE, libc } from '../sys/libc';

export interface HardenResult {
  coreLimitZero: boolean;
  dumpable: number;
}

/**
 * Apply the hardening. Failures do not stop the verb (a kernel without prctl support is no reason
 * to deny a job its credential) but are reported to the caller for tracing; on Linux neither call
 * can fail for these arguments.
 */
export function hardenProcess(opts: { root?: boolean } = {}): HardenResult {
  const c = libc();
  const coreLimitZero = c.setrlimit(RLIMIT_CORE, { cur: 0n, max: 0n }) === 0;
  const root = opts.root ?? (typeof process.geteuid === 'function' && process.geteuid() === 0);
  if (root) c.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  return { coreLimitZero, dumpable: c.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) };
}

/**
 * What the hardening of this process is now, as the process itself reads it (getrlimit,
 * PR_GET_DUMPABLE): the daemons say it in their start-up line, so an administrator (and a test, on
 * a kernel whose /proc or ptrace cannot show it from outside) sees it.
 */
export function hardeningState(): string {
  const core = coreLimit();
  const dumpable = libc().prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  return `core limit ${core.cur}/${core.max}, ${dumpable === 0 ? 'not dumpable' : `dumpable (${dumpable})`}`;
}

/** The current RLIMIT_CORE (for tests and tracing). */
export function coreLimit(): { cur: bigint; max: bigint } {
  const r = { cur: -1n, max: -1n };
  if (libc().getrlimit(RLIMIT_CORE, r) !== 0) throw new Error('getrlimit(RLIMIT_CORE) failed');
  return r;
}
