/**
 * The keeper socket protocol (docs/internals.md, "Keeper socket"): one request line, one answer
 * line, then the keeper closes. Lines are ASCII, at most MAX_LINE bytes with the newline.
 *   materialise UID GID JOB  ->  ok KRB5CCNAME=FILE:<path>
 *   destroy UID JOB          ->  ok <what happened>
 *   ping                     ->  ok krb5bridge-keeper <version> jobs=<n>
 *   stats                    ->  ok jobs=<n> rss_kib=<n> ...
 * Failure: `error <exit status> krb5bridge: E_CODE: <message>` (the helper's stderr line).
 */
import { Krb5BridgeError, formatErrorLine } from '../errors';
import { parseGid, parseJob, parseUid } from '../node/ids';

export const MAX_LINE = 512;

export type KeeperRequest =
  | { op: 'materialise'; uid: number; gid: number; job: string }
  | { op: 'destroy'; uid: number; job: string }
  | { op: 'ping' | 'stats' };

/** Parse one request line (without its newline). Anything else is E_PROTOCOL / E_USAGE. */
export function parseKeeperRequest(line: string): KeeperRequest {
  if (line.length > MAX_LINE || !/^[a-z0-9 ]*$/.test(line)) throw new Krb5BridgeError('E_PROTOCOL', 'keeper request is not a short line of lower-case words and digits');
  const w = line.split(' ');
  switch (w[0]) {
    case 'materialise':
      if (w.length !== 4) throw new Krb5BridgeError('E_PROTOCOL', 'usage: materialise UID GID JOB');
      return { op: 'materialise', uid: parseUid(w[1]!), gid: parseGid(w[2]!), job: parseJob(w[3]!) };
    case 'destroy':
      if (w.length !== 3) throw new Krb5BridgeError('E_PROTOCOL', 'usage: destroy UID JOB');
      return { op: 'destroy', uid: parseUid(w[1]!), job: parseJob(w[2]!) };
    case 'ping':
    case 'stats':
      if (w.length !== 1) throw new Krb5BridgeError('E_PROTOCOL', `usage: ${w[0]}`);
      return { op: w[0] };
    default:
      throw new Krb5BridgeError('E_PROTOCOL', `unknown keeper request "${(w[0] ?? '').slice(0, 20)}"`);
  }
}

export function okLine(text: string): string {
  return `ok ${oneLine(text)}\n`;
}

export function errorLine(e: Krb5BridgeError): string {
  return `error ${e.status} ${oneLine(formatErrorLine(e))}\n`;
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').slice(0, 4000);
}
