/**
 * The one refresh schedule (after kstart's framework: k5start and krenew share one loop). Both
 * the store's renewer (a stored TGT, renewed at the KDC) and the node keeper (a job ccache,
 * refreshed from the store) ask it the same questions, with their own numbers:
 *   - when is a ticket due: `margin` before its end, at most a fraction of the life it had when
 *     written (a short ticket is not renewed the moment it arrives), minus a random jitter so that
 *     many tickets written at once spread out;
 *   - after the n-th failure in a row: when to try again. Back-off doubling to a cap, but never
 *     more than half of what is left before the ticket's end (retries get shorter as expiry
 *     nears), and one last attempt `lastAttemptLead` before the end: a ticket is never given up
 *     while one more attempt could still save it.
 * Giving up (renew-until reached, the KDC refuses) is the caller's: what it then does differs
 * (the store drops the ticket at its end; the keeper waits for a fresh push).
 */

export interface ScheduleOptions {
  /** Refresh this long before the end. */
  marginSeconds: number;
  /** The margin is at most the ticket's life divided by this (store 2, keeper 3). */
  lifeDivisor: number;
  /** Up to margin/jitterDivisor earlier, at random (0 or undefined: no jitter). */
  jitterDivisor?: number;
  /** First retry after a failure; each further failure doubles it, up to maxRetrySeconds. */
  firstRetrySeconds: number;
  maxRetrySeconds: number;
  /** The last attempt is made this long before the end (time for one exchange to finish). */
  lastAttemptLead?: number;
  /** Retries are never closer together than this (default 1 s). */
  minRetrySeconds?: number;
  /** [0, 1); default Math.random. */
  random?: () => number;
}

/** A ticket as the schedule sees it (Unix seconds). */
export interface TicketWindow {
  endtime: number;
  /** When this ticket was written or stored: its life is measured from here. */
  since: number;
}

export class RefreshSchedule {
  private readonly random: () => number;

  constructor(private readonly o: ScheduleOptions) {
    this.random = o.random ?? Math.random;
  }

  /** The margin for this ticket: marginSeconds, at most its life / lifeDivisor, at least 1 s. */
  margin(t: TicketWindow): number {
    const life = Math.max(2, t.endtime - t.since);
    return Math.max(1, Math.min(this.o.marginSeconds, Math.floor(life / this.o.lifeDivisor)));
  }

  /** When to refresh the ticket. */
  due(t: TicketWindow): number {
    const margin = this.margin(t);
    const jitter = this.o.jitterDivisor ? Math.floor(this.random() * (margin / this.o.jitterDivisor)) : 0;
    return t.endtime - margin - jitter;
  }

  /**
   * After `failures` (>= 1) failures in a row at `now`: the next attempt. Never later than the last
   * attempt before `endtime`; once that has been made too, `endtime` (nothing more to try).
   */
  retry(now: number, failures: number, endtime: number): number {
    const backoff = Math.min(this.o.maxRetrySeconds, this.o.firstRetrySeconds * 2 ** Math.min(Math.max(0, failures - 1), 16));
    const last = endtime - (this.o.lastAttemptLead ?? 0);
    if (now >= last) return endtime;
    const min = this.o.minRetrySeconds ?? 1;
    const wait = Math.max(min, Math.min(backoff, Math.floor((last - now) / 2)));
    return Math.min(now + wait, last);
  }
}
