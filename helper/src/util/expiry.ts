/** Durations people type (`90s`, `30m`, `2h`, `7d`) and when a stored credential stops being usable. */
import { Krb5BridgeError } from '../errors';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** `2h` -> 7200; a bare number is seconds. E_USAGE naming `what` for anything else. */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d{1,7})([smhd]?)$/.exec(text.trim());
  if (!m) throw new Krb5BridgeError('E_USAGE', `${what} must be a duration like 90s, 30m, 2h or 7d, got "${text}"`);
  return Number(m[1]) * (UNITS[m[2] || 's'] as number);
}

/** The last moment a credential can be used: its renew-until if it is renewable past its end time, else its end time. */
export function lastValid(c: { endtime: number; renew_till: number }): number {
  return Math.max(c.endtime, c.renew_till);
}
