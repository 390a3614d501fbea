/**
 * KDC exchanges off the event loop, the one way (the store's and keeper's renewals in renew.ts,
 * the gateway's password login and service tickets in password.ts): each one runs its libkrb5
 * calls on koffi's worker threads with a krb5_context of its own (a context is not for two threads
 * at once; each pooled context is reused once its exchange is done), a few at once and at a
 * bounded rate (`util/limit.ts`), and is given up after a timeout: the caller gets
 * E_KDC_UNREACHABLE; the abandoned exchange finishes on its thread, cleans up there, and its
 * context goes back to the pool. Exchanges still on a thread are capped within libuv's pool
 * (`util/threadpool.ts`), so a hung KDC never piles up threads nor stalls file I/O behind it.
 */
import { Krb5BridgeError } from '../errors';
import { Limiter } from '../util/limit';
import { threadBudget } from '../util/threadpool';
import { callAsync } from '../sys/libc';
import { AsyncKrbFn, Ptr, newContext } from './lib';

export interface KdcWorkerPolicy {
  /** Exchanges at once. */
  concurrency: number;
  /** Exchanges started per second at most. */
  perSecond: number;
  /** Give up waiting for one exchange after this long. */
  timeoutMs: number;
  /**
   * Exchanges still on a thread (given up on included) beyond which none starts: at most this
   * (default 16), and never more than libuv's pool leaves after 8 threads kept for file I/O,
   * lookups and munge.
   */
  maxOutstanding?: number;
}

/** What the messages call the exchanges, and what they say a KDC past the timeout may be. */
export interface KdcWorkerWords {
  /** Plural, in the refusal while too many are outstanding: "exchanges", "renewals". */
  exchanges: string;
  /** "down or hung", "hung". */
  kdcMayBe: string;
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
  private policy!: KdcWorkerPolicy;
  private limiter!: Limiter;
  private maxOutstanding = 1;
  private readonly idle: WorkerContext<X>[] = [];
  private outstanding = 0;

  constructor(
    policy: KdcWorkerPolicy,
    /** Attach what every exchange on a new context needs (called once per context, main thread). */
    private readonly setup: (c: Ptr) => X,
    private readonly words: KdcWorkerWords = { exchanges: 'exchanges', kdcMayBe: 'down or hung' },
  ) {
    this.configure(policy);
  }

  /** Change the policy (a daemon at start, from its config); pooled contexts and exchanges on a thread stay counted. */
  configure(p: Partial<KdcWorkerPolicy>): void {
    this.policy = { ...this.policy, ...p };
    this.maxOutstanding = threadBudget(this.policy.maxOutstanding ?? 16, 8);
    // More at once than may be outstanding would only be refused.
    this.limiter = new Limiter(Math.min(this.policy.concurrency, this.maxOutstanding), this.policy.perSecond);
  }

  /**
   * Run `body` with a pooled context; `what` names the exchange in the timeout message (a function
   * when the body learns it, e.g. a principal, before its first wait). `discard` gets the result
   * of an exchange given up on (to wipe key material it holds).
   */
  run<T>(what: string | (() => string), body: (w: WorkerContext<X>) => Promise<T>, discard: (r: T) => void = () => undefined): Promise<T> {
    return this.limiter.run(() => this.once(what, body, discard));
  }

  private async once<T>(what: string | (() => string), body: (w: WorkerContext<X>) => Promise<T>, discard: (r: T) => void): Promise<T> {
    if (this.outstanding >= this.maxOutstanding) {
      throw new Krb5BridgeError('E_KDC_UNREACHABLE', `${this.outstanding} ${this.words.exchanges} are still waiting for a KDC that does not answer; not asking it more until they return`);
    }
    const w = this.idle.pop() ?? this.newWorker();
    this.outstanding++;
    const exchange = body(w).finally(() => {
      this.outstanding--;
      this.idle.push(w);
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        exchange.then(discard, () => undefined);
        const named = typeof what === 'string' ? what : what();
        reject(new Krb5BridgeError('E_KDC_UNREACHABLE', `the KDC did not answer within ${this.policy.timeoutMs / 1000} s (${named}); it may be ${this.words.kdcMayBe}`));
      }, this.policy.timeoutMs);
    });
    try {
      return await Promise.race([exchange, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private newWorker(): WorkerContext<X> {
    const c = newContext();
    return { c, extra: this.setup(c) };
  }
}
