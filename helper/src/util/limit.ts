/**
 * The one limiter: at most `max` calls at once, and optionally at most `perSecond` started per
 * second (spread evenly), the rest waiting in order in JS. Bounds what koffi's worker threads,
 * munged or a KDC see: koffi queues at most `max_async_calls` (256) async calls and throws past
 * that; a KDC coming back after an outage should not meet the whole backlog in one second.
 */
export class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private nextStart = 0;

  constructor(
    private readonly max: number,
    private readonly perSecond?: number,
  ) {}

  /** Calls running or waiting now. */
  get pending(): number {
    return this.active + this.waiting.length;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      if (this.perSecond) {
        const now = Date.now();
        const at = Math.max(now, this.nextStart);
        this.nextStart = at + 1000 / this.perSecond;
        if (at > now) await new Promise((r) => setTimeout(r, at - now));
      }
      return await fn();
    } finally {
      const next = this.waiting.shift();
      // Hand the slot straight to the next waiter; `active` stays the same.
      if (next) next();
      else this.active--;
    }
  }
}
