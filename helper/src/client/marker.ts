/**
 * The push marker (docs/internals.md, "Push marker"): after a successful push, one line in
 * `marker_dir/krb5bridge_pushed_<uid>` lets the C plugin skip the next push without starting Node.
 * The plugin compares the line byte for byte with what libkrb5 reports, so the format is exact.
 * marker_dir is usually /tmp: the file is written as a fresh temporary file (O_EXCL|O_NOFOLLOW,
 * 0600) renamed into place, and a marker path that is a symlink or someone else's is left alone.
 * A marker that cannot be written only costs a later push, so failures are traced, not fatal.
 */
import { constants, promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { TicketInfo } from '../krb5';
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
  const temp = join(markerDir, `.krb5bridge_pushed_${uid}.${randomBytes(6).toString('hex')}`);
  let h: fsp.FileHandle | undefined;
  try {
    h = await fsp.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    await h.chmod(0o600);
    await h.writeFile(line, 'utf8');
    await h.close();
    h = undefined;
    await fsp.rename(temp, path);
    trace(`wrote push marker ${path}`);
    return true;
  } catch (e) {
    if (h) await h.close().catch(() => undefined);
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    return skip(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

function skip(why: string): false {
  trace(`push marker not written: ${why}`);
  return false;
}
