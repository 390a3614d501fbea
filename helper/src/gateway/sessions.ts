/**
 * Session tokens (bearer): 32 random bytes, base64url. The gateway keeps them server-side, in
 * memory, under their SHA-256 (a heap dump shows no usable token); a token is valid no longer
 * than the TGT it came from, is revoked by logout, and dies with the gateway process. It carries
 * nothing: not the password, not the user name, not the ticket. Each session owns the MEMORY
 * ccache of its login (the user's TGT and the store's ticket), destroyed when the session ends.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface Session {
  /** The local user name (Slurm's user). */
  user: string;
  uid: number;
  gid: number;
  home: string | undefined;
  principal: string;
  /** How the user logged in. */
  mech: 'password' | 'spnego';
  /** ms since the epoch: never later than the TGT's end time. */
  expires: number;
  /** MEMORY:... ccache of this login. */
  ccache: string;
  /** The store held a valid TGT for this user at least until this time (ms), as last checked. */
  storeValidUntil?: number;
  storeCheckedAt?: number;
}

/** 43 base64url characters: 32 bytes. Anything else is not a token of ours. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** Sessions one user may hold at once; a new login beyond this ends their oldest. */
export const MAX_SESSIONS_PER_USER = 32;

function hash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class Sessions {
  private readonly byHash = new Map<string, Session>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    /** Called once per session that ends (logout, expiry, eviction, shutdown): destroy its ccache. */
    private readonly onEnd: (s: Session) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => this.sweep(), 60_000);
    this.timer.unref();
  }

  /** A new session; returns its token (shown once, to the client). */
  create(s: Session): string {
    const mine = [...this.byHash.entries()].filter(([, v]) => v.user === s.user);
    if (mine.length >= MAX_SESSIONS_PER_USER) {
      mine.sort((a, b) => a[1].expires - b[1].expires);
      this.end(mine[0]![0]);
    }
    const token = randomBytes(32).toString('base64url');
    this.byHash.set(hash(token), s);
    return token;
  }

  /** The live session of a token, or undefined (unknown, malformed, expired: all the same). */
  get(token: string | undefined): Session | undefined {
    if (token === undefined || !TOKEN.test(token)) return undefined;
    const h = hash(token);
    const s = this.byHash.get(h);
    if (!s) return undefined;
    if (s.expires <= this.now()) {
      this.end(h);
      return undefined;
    }
    return s;
  }

  /** Logout: true if the token named a live session. */
  revoke(token: string | undefined): boolean {
    if (token === undefined || !TOKEN.test(token)) return false;
    const h = hash(token);
    const live = this.get(token) !== undefined;
    if (live) this.end(h);
    return live;
  }

  get size(): number {
    return this.byHash.size;
  }

  sweep(): void {
    const now = this.now();
    for (const [h, s] of this.byHash) if (s.expires <= now) this.end(h);
  }

  close(): void {
    clearInterval(this.timer);
    for (const h of [...this.byHash.keys()]) this.end(h);
  }

  private end(h: string): void {
    const s = this.byHash.get(h);
    if (!s) return;
    this.byHash.delete(h);
    this.onEnd(s);
  }
}
