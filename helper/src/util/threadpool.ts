/**
 * libuv's thread pool: Node runs file I/O, DNS lookups and every asynchronous koffi call (a KDC
 * exchange in krb5/kdcworker.ts, munge encode/decode) on it. libuv's default is 4 threads, so four C
 * calls waiting on a hung peer would stall everything else the daemon does. The bundle's first
 * statement (the banner in scripts/build-helper.mjs) sets UV_THREADPOOL_SIZE to 24 unless the
 * environment already did; callers that may wait on a peer bound themselves with threadBudget().
 */

/** The pool's size, as libuv will make it (the variable read once, at the pool's first use). */
export function threadPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.UV_THREADPOOL_SIZE);
  return Number.isInteger(n) && n > 0 ? Math.min(n, 1024) : 4;
}

/**
 * How many pool threads calls that may wait long on a peer may hold at once: the pool minus
 * `reserve` threads kept for file I/O and lookups, at most `cap`, at least 1.
 */
export function threadBudget(cap: number, reserve: number, env: NodeJS.ProcessEnv = process.env): number {
  return Math.max(1, Math.min(cap, threadPoolSize(env) - reserve));
}
