/**
 * A counting semaphore. koffi queues at most `max_async_calls` (256) async calls and throws past
 * that, and munged serves a few threads anyway: bounding our own in-flight calls keeps a burst of
 * 1,000 clients a queue in JS instead of an exception.
 */
export class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly max: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      // Hand the slot straight to the next waiter; `active` stays the same.
      if (next) next();
      else this.active--;
    }
  }
}
