/** Job ids, uids and gids as the plugin passes them: decimal digits only, in range. */
import { Krb5BridgeError } from '../errors';

const MAX_ID = 4294967294; // (uid_t)-1 is "no id"

function digits(name: string, raw: string | number): number {
  const s = String(raw);
  if (!/^\d{1,10}$/.test(s) || Number(s) > MAX_ID) throw new Krb5BridgeError('E_USAGE', `--${name} must be decimal digits (0..${MAX_ID}), got "${s}"`);
  return Number(s);
}

export function parseUid(raw: string | number): number {
  return digits('uid', raw);
}

export function parseGid(raw: string | number): number {
  return digits('gid', raw);
}

/** Job ids name files: digits only, so no path can be smuggled in. */
export function parseJob(raw: string | number): string {
  const s = String(raw);
  if (!/^\d{1,10}$/.test(s)) throw new Krb5BridgeError('E_USAGE', `--job must be a numeric Slurm job id, got "${s}"`);
  return String(Number(s));
}

/** Root's (or a system account's) credentials never land in a job ccache. */
export function refuseRoot(uid: number): void {
  if (uid === 0) throw new Krb5BridgeError('E_UID_REFUSED', 'uid 0: jobs of root get no forwarded credentials');
}
