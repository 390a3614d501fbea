/**
 * The push marker (docs/internals.md, "Push marker"): after a successful push, one line in
 * `marker_dir/krb5bridge_pushed_<uid>` lets the C plugin skip the next push without starting Node.
 * The plugin compares the line byte for byte with what libkrb5 reports, so the format is exact.
 * marker_dir is usually /tmp: the file is written with the one atomic write (a fresh temporary
 * file, O_EXCL|O_NOFOLLOW, 0600, renamed into place), and a marker path that is a symlink or someone else's is left alone.
 * A marker that cannot be written only costs a later push, so failures are traced, not fatal.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { TicketInfo } from '../krb5';
import { writeFileAtomic } from '../util/atomic';
import { trace } from '../util/log';

export function markerPath(markerDir: string, uid: number): string {
  return join(markerDir, `krb5bridge_pushed_${uid}`);
}

/** `v1 <store> <client principal> <authtime> <endtime> <renew_till>\n` of the primary TGT. */
export function markerLine(store: string, principal: string, tgt: Pick<TicketInfo, 'authtime' | 'endtime' | 'renew_till'>): string {
  return `v1 ${store} ${principal} ${tgt.authtime} ${tgt.endtime} ${tgt.renew_till}\n`;
}

/** Write the marker; returns whether it was written (false: skipped, with a trace line saying why). */
export async function writeMarker(markerDir: string, uid: number, line: string): Promise<boolean> {
  const path = markerPath(markerDir, uid);
  try {
    const st = await fsp.lstat(path);
    if (st.isSymbolicLink()) return skip(`${path} is a symlink`);
    if (!st.isFile()) return skip(`${path} is not a regular file`);
    if (st.uid !== uid) return skip(`${path} is owned by uid ${st.uid}, not ${uid}`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return skip(`cannot inspect ${path}: ${(e as NodeJS.ErrnoException).code}`);
  }
  try {
    // Not durable: a marker lost in a crash only costs a later push.
    await writeFileAtomic(path, line, { durable: false, what: 'push marker' });
    trace(`wrote push marker ${path}`);
    return true;
  } catch (e) {
    return skip((e as Error).message);
  }
}

function skip(why: string): false {
  trace(`push marker not written: ${why}`);
  return false;
}
