/**
 * `krb5bridge doctor`: what one check finds, and what every group of checks gets. A group is one
 * file of this folder (runtime.ts, kerberos.ts, munge.ts, store.ts, slurm.ts, node.ts, storehost.ts,
 * gateway.ts) listed in index.ts with the roles it applies to.
 */
import type { Config } from '../config/config';

export type Role = 'login' | 'compute' | 'store' | 'gateway';
export const ROLES: readonly Role[] = ['login', 'compute', 'store', 'gateway'];

/** ok: as it should be; warn: works, but should be looked at; fail: broken; skip: could not be checked here. */
export type Status = 'ok' | 'warn' | 'fail' | 'skip';

export interface Finding {
  /** Stable name of the check (`munge`, `store`, `clock`, ...). */
  check: string;
  status: Status;
  /** What was found. */
  detail: string;
  /** What to do (warn and fail). */
  remedy?: string;
}

export interface DoctorContext {
  config: Config;
  roles: ReadonlySet<Role>;
  /** Running as root (node and store checks need it). */
  root: boolean;
}

export interface CheckGroup {
  /** The roles whose hosts run these checks. */
  roles: readonly Role[];
  run(ctx: DoctorContext): Promise<Finding[]> | Finding[];
}

export const ok = (check: string, detail: string): Finding => ({ check, status: 'ok', detail });
export const warn = (check: string, detail: string, remedy: string): Finding => ({ check, status: 'warn', detail, remedy });
export const fail = (check: string, detail: string, remedy: string): Finding => ({ check, status: 'fail', detail, remedy });
export const skip = (check: string, detail: string): Finding => ({ check, status: 'skip', detail });

/** An error's message without the registry's generic prefix when it has details. */
export function why(e: unknown): string {
  const err = e as { detail?: string; message?: string };
  return err.detail ?? err.message ?? String(e);
}
