/**
 * The store keeps a connection per node (each node's keeper keeps one open): at start it raises
 * its soft limit of open files to the hard limit, and bounds its connections by what is left of it.
 */
import { RLIMIT_NOFILE, libc } from '../sys/libc';

/** Raise the soft RLIMIT_NOFILE to the hard one; returns the limit now in force. */
export function raiseOpenFileLimit(): number {
  const c = libc();
  const r = { cur: 0n, max: 0n };
  if (c.getrlimit(RLIMIT_NOFILE, r) !== 0) return 1024;
  if (r.cur < r.max && c.setrlimit(RLIMIT_NOFILE, { cur: r.max, max: r.max }) === 0) r.cur = r.max;
  return r.cur > 1_000_000n ? 1_000_000 : Number(r.cur);
}
