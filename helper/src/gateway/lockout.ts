/**
 * Password guessing: per user name and per client address, failed passwords are counted in a
 * sliding window; at `failures` (user) or 4 x `failures` (address: many people may share one
 * NAT address) the key is locked for the window, answered 429 with Retry-After, and the KDC is
 * not asked at all (so a correct password during a lockout is refused too). A lockout ends by
 * itself when the window has passed. Login attempts are also limited per user name, failed or
 * not, to `perMinute` (per address, @fastify/rate-limit does it in server.ts). Memory is bounded:
 * at most `maxKeys` keys, the oldest dropped first.
 */
export interface LoginGuardOptions {
  failures: number;
  windowMs: number;
  perMinute: number;
  maxKeys?: number;
}

interface Entry {
  /** Failure times (ms), oldest first, within the window. */
  failures: number[];
  /** Attempt times within the last minute. */
  attempts: number[];
  lockedUntil: number;
}

export type GuardVerdict = { ok: true } | { ok: false; code: 'E_LOCKED_OUT' | 'E_RATE_LIMITED'; retryAfter: number; key: string };

export class LoginGuard {
  private readonly entries = new Map<string, Entry>();
  private readonly maxKeys: number;

  constructor(
    private readonly o: LoginGuardOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.maxKeys = o.maxKeys ?? 100_000;
  }

  private static keys(user: string, addr: string): string[] {
    return [`user:${user}`, `addr:${addr}`];
  }

  private limit(key: string): number {
    return key.startsWith('addr:') ? this.o.failures * 4 : this.o.failures;
  }

  private entry(key: string, create: boolean): Entry | undefined {
    let e = this.entries.get(key);
    if (!e && create) {
      if (this.entries.size >= this.maxKeys) this.entries.delete(this.entries.keys().next().value as string);
      e = { failures: [], attempts: [], lockedUntil: 0 };
      this.entries.set(key, e);
    }
    return e;
  }

  private prune(e: Entry, now: number): void {
    while (e.failures.length && e.failures[0]! <= now - this.o.windowMs) e.failures.shift();
    while (e.attempts.length && e.attempts[0]! <= now - 60_000) e.attempts.shift();
  }

  /** Before asking the KDC: may `user` from `addr` try a password now? Counts the attempt. */
  attempt(user: string, addr: string): GuardVerdict {
    const now = this.now();
    for (const key of LoginGuard.keys(user, addr)) {
      const e = this.entry(key, false);
      if (!e) continue;
      this.prune(e, now);
      if (e.lockedUntil > now) return { ok: false, code: 'E_LOCKED_OUT', retryAfter: Math.ceil((e.lockedUntil - now) / 1000), key };
    }
    const u = this.entry(`user:${user}`, true)!;
    this.prune(u, now);
    if (u.attempts.length >= this.o.perMinute) {
      return { ok: false, code: 'E_RATE_LIMITED', retryAfter: Math.max(1, Math.ceil((u.attempts[0]! + 60_000 - now) / 1000)), key: `user:${user}` };
    }
    u.attempts.push(now);
    return { ok: true };
  }

  /** A wrong password (or unknown user): count it; lock a key that reached its limit. */
  failed(user: string, addr: string): void {
    const now = this.now();
    for (const key of LoginGuard.keys(user, addr)) {
      const e = this.entry(key, true)!;
      this.prune(e, now);
      e.failures.push(now);
      if (e.failures.length >= this.limit(key)) {
        e.lockedUntil = now + this.o.windowMs;
        e.failures = [];
      }
    }
  }

  /** A correct password: the user's failures are forgotten (the address's are not). */
  succeeded(user: string): void {
    const e = this.entries.get(`user:${user}`);
    if (e) e.failures = [];
  }

  get size(): number {
    return this.entries.size;
  }
}
