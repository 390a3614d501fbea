/**
 * KDC exchanges off the event loop (the gateway's password login and service tickets): each one
 * runs its libkrb5 calls on koffi's worker threads with a krb5_context of its own (a context is not
 * for two threads at once; each pooled context is reused once its exchange is done), a few at once
 * and at a bounded rate (`util/limit.ts`), and is given up after a timeout: the caller gets
 * E_KDC_UNREACHABLE; the abandoned exchange finishes on its thread, cleans up there, and its context
 * goes back to the pool. Exchanges still on a thread are capped, so a hung KDC never piles up
 * threads. (renew.ts does the same for renewals, with the store's own policy.)
 */
import { Krb5BridgeError } from '../errors';
import { Limiter } from '../util/limit';
import { callAsync } from '../sys/libc';
import { AsyncKrbFn, Ptr, newContext } from './lib';

export interface KdcWorkerPolicy {
  /** Exchanges at once. */
  concurrency: number;
  /** Exchanges started per second at most. */
  perSecond: number;
  /** Give up waiting for one exchange after this long. */
  timeoutMs: number;
  /** Exchanges still on a thread (given up on included) beyond which none starts. */
  maxOutstanding: number;
}

/** A pooled context and what the pool's owner attached to it once (a keytab handle, ...). */
export interface WorkerContext<X> {
  c: Ptr;
  extra: X;
}

/** Run one libkrb5 call on a koffi worker thread; resolves with its return code. */
export function onWorker(f: AsyncKrbFn, ...args: unknown[]): Promise<number> {
  return callAsync(f, ...args);
}

export class KdcWorkers<X> {
  private readonly limiter: Limiter;
  private readonly idle: WorkerContext<X>[] = [];
  private outstanding = 0;

  constructor(
    private readonly policy: KdcWorkerPolicy,
    /** Attach what every exchange on a new context needs (called once per context, main thread). */
    private readonly setup: (c: Ptr) => X,
  ) {
    this.limiter = new Limiter(policy.concurrency, policy.perSecond);
  }

  /**
   * Run `body` with a pooled context; `what` names the exchange in the timeout message. `discard`
   * gets the result of an exchange given up on (to wipe key material it holds).
   */
  run<T>(what: string, body: (w: WorkerContext<X>) => Promise<T>, discard: (r: T) => void = () => undefined): Promise<T> {
    return this.limiter.run(() => this.once(what, body, discard));
  }

  private async once<T>(what: string, body: (w: WorkerContext<X>) => Promise<T>, discard: (r: T) => void): Promise<T> {
    if (this.outstanding >= this.policy.maxOutstanding) {
      throw new Krb5BridgeError('E_KDC_UNREACHABLE', `${this.outstanding} exchanges are still waiting for a KDC that does not answer; not asking it more until they return`);
    }
    const w = this.idle.pop() ?? { c: newContext(), extra: undefined as X };
    if (w.extra === undefined) w.extra = this.setup(w.c);
    this.outstanding++;
    const exchange = body(w).finally(() => {
      this.outstanding--;
      this.idle.push(w);
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        exchange.then(discard, () => undefined);
        reject(new Krb5BridgeError('E_KDC_UNREACHABLE', `the KDC did not answer within ${this.policy.timeoutMs / 1000} s (${what}); it may be down or hung`));
      }, this.policy.timeoutMs);
    });
    try {
      return await Promise.race([exchange, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Exchanges on a thread now (given up on included). */
  get inFlight(): number {
    return this.outstanding;
  }
}
