/**
 * Asking slurmctld in-process (libslurm, the binding table in libslurm.ts) for a job and the
 * node table: one RPC per question on a thread of its own, no process started. Every question
 * has a deadline (below the client's timeout, so a node hears "slurmctld unreachable", never a
 * timeout of its own); while slurmctld hangs, at most `maxWaiting` questions wait, later ones are
 * refused at once. Failures are E_SLURMCTLD_UNREACHABLE (slurmctld could not be asked: the node
 * tries again) or E_JOB_CHECK (it answered with an error).
 */
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { Krb5BridgeError } from '../errors';
import { DECLS, ESLURM_INVALID_JOB_ID, JobRow, LAYOUT, LIBSLURM, LIBSLURM_API, NodeRow, SHOW_ALL, THREAD_SOURCE, ThreadAnswer, ThreadQuestion, isCommunicationError } from './libslurm';

export type { JobRow, NodeRow } from './libslurm';

export interface SlurmctldOptions {
  /** slurm.conf; undefined = SLURM_CONF of this process, else /etc/slurm/slurm.conf. */
  slurmConf?: string | undefined;
  /** Deadline of one question (default 5 s). */
  timeoutMs?: number | undefined;
  /** Questions waiting for a hung slurmctld beyond which new ones are refused at once (default 64). */
  maxWaiting?: number | undefined;
}

/** What the job check needs from slurmctld (a fake of it in unit tests). */
export interface SlurmSource {
  /** Job `job` as slurmctld knows it; undefined = unknown (finished and purged, or never). */
  job(job: string): Promise<JobRow | undefined>;
  nodes(): Promise<NodeRow[]>;
  close?(): void;
}

/** The slurm.conf libslurm will read; E_CONFIG when there is none (libslurm would exit the process). */
export function slurmConfPath(given: string | undefined): string {
  const path = given ?? process.env.SLURM_CONF ?? '/etc/slurm/slurm.conf';
  if (!existsSync(path)) {
    throw new Krb5BridgeError('E_CONFIG', `the job check (job_bound = yes) reads slurm.conf, and ${path} does not exist: set slurm_conf (or SLURM_CONF) to this cluster's slurm.conf`);
  }
  return path;
}

interface Waiting {
  resolve: (a: ThreadAnswer) => void;
  reject: (e: Krb5BridgeError) => void;
  timer: NodeJS.Timeout;
}

export class Slurmctld implements SlurmSource {
  private worker: Worker | undefined;
  private fatal: string | undefined;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private readonly conf: string;
  private readonly timeoutMs: number;
  private readonly maxWaiting: number;

  constructor(o: SlurmctldOptions = {}) {
    this.conf = slurmConfPath(o.slurmConf);
    this.timeoutMs = o.timeoutMs ?? 5_000;
    this.maxWaiting = o.maxWaiting ?? 64;
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(THREAD_SOURCE, {
      eval: true,
      // libslurm's own error lines (a refused connection, ...) go to fd 2: the store's log.
      workerData: { koffi: require.resolve('koffi'), lib: LIBSLURM, decls: DECLS, layout: LAYOUT, conf: this.conf, showAll: SHOW_ALL, api: LIBSLURM_API },
    });
    w.unref();
    w.on('message', (m: ThreadAnswer | { fatal: string }) => {
      if ('fatal' in m) {
        this.fatal = m.fatal;
        this.failAll(new Krb5BridgeError('E_JOB_CHECK', `cannot use ${LIBSLURM}: ${m.fatal}`));
        return;
      }
      const q = this.waiting.get(m.id);
      if (!q) return; // timed out meanwhile
      this.waiting.delete(m.id);
      clearTimeout(q.timer);
      q.resolve(m);
    });
    w.on('error', (e) => this.lost(`the libslurm thread failed: ${e.message}`));
    w.on('exit', (code) => this.lost(`the libslurm thread exited (${code})`));
    this.worker = w;
    return w;
  }

  private lost(why: string): void {
    this.worker = undefined;
    this.failAll(new Krb5BridgeError('E_JOB_CHECK', why));
  }

  private failAll(e: Krb5BridgeError): void {
    for (const [id, q] of this.waiting) {
      clearTimeout(q.timer);
      q.reject(e);
      this.waiting.delete(id);
    }
  }

  private ask(req: ThreadQuestion, what: string): Promise<ThreadAnswer> {
    if (this.fatal) return Promise.reject(new Krb5BridgeError('E_JOB_CHECK', `cannot use ${LIBSLURM}: ${this.fatal}`));
    if (this.waiting.size >= this.maxWaiting) {
      return Promise.reject(new Krb5BridgeError('E_SLURMCTLD_UNREACHABLE', `${what}: slurmctld has not answered the last ${this.waiting.size} questions`));
    }
    const id = this.nextId++;
    const w = this.thread();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Krb5BridgeError('E_SLURMCTLD_UNREACHABLE', `${what}: no answer from slurmctld within ${this.timeoutMs / 1000} s`));
      }, this.timeoutMs);
      timer.unref();
      this.waiting.set(id, { resolve, reject, timer });
      w.postMessage({ ...req, id });
    });
  }

  private static failure(what: string, a: Extract<ThreadAnswer, { ok: false }>): Krb5BridgeError {
    if (isCommunicationError(a.errno)) return new Krb5BridgeError('E_SLURMCTLD_UNREACHABLE', `${what}: ${a.text}`);
    return new Krb5BridgeError('E_JOB_CHECK', `${what} failed: ${a.text} (Slurm error ${a.errno})`);
  }

  async job(job: string): Promise<JobRow | undefined> {
    const what = `slurm_load_job(${job})`;
    // Slurm job ids are 32-bit: a larger number names no job.
    if (!/^\d{1,10}$/.test(job) || Number(job) > 0xffffffff) return undefined;
    const a = await this.ask({ op: 'job', job: Number(job) }, what);
    if (!a.ok) {
      if (a.errno === ESLURM_INVALID_JOB_ID) return undefined;
      throw Slurmctld.failure(what, a);
    }
    return a.job ?? undefined;
  }

  async nodes(): Promise<NodeRow[]> {
    const a = await this.ask({ op: 'nodes' }, 'slurm_load_node');
    if (!a.ok) throw Slurmctld.failure('slurm_load_node', a);
    return a.nodes ?? [];
  }

  close(): void {
    this.failAll(new Krb5BridgeError('E_JOB_CHECK', 'the store is stopping'));
    void this.worker?.terminate();
    this.worker = undefined;
  }
}
