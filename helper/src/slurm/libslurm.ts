/**
 * The one binding table for libslurm (slurm.h of Slurm 22.05, libslurm.so.38): the functions the
 * store's job check calls, the byte offsets of the few struct fields it reads, and the thread
 * that calls them. Asking slurmctld this way costs one RPC (~2 ms here), not an squeue process.
 *
 * Why a thread of its own (worker_threads), not koffi's async calls: libslurm reports failures
 * in its thread-local errno, which only a call on the same thread can read; and a hung slurmctld
 * holds a libslurm call for up to MessageTimeout and more (18 s measured for a refused
 * connection), which must never take koffi's async threads from munge, the store's hot path.
 * The thread runs the calls one at a time; slurm/slurmctld.ts queues, bounds and times them out.
 *
 * Struct fields are read at fixed offsets (koffi.decode) rather than through a full koffi
 * declaration of slurm_job_info_t (130 fields): test/unit/slurm/libslurm.test.ts compiles
 * offsetof() of each one against the installed <slurm/slurm.h>, and the thread refuses a
 * libslurm whose API version is not the one these offsets are for. Only fields users cannot set
 * are read (job id, uid, state, node list; node name, NodeAddr, NodeHostName).
 */

/** The shared object and the API version (slurm_api_version() >> 16) the table is for. */
export const LIBSLURM = 'libslurm.so.38';
export const LIBSLURM_API = 38;

export const DECLS = {
  apiVersion: 'long slurm_api_version(void)',
  init: 'void slurm_init(const char *conf)',
  loadJob: 'int slurm_load_job(_Out_ void **resp, uint32_t job_id, uint16_t show_flags)',
  freeJobs: 'void slurm_free_job_info_msg(void *msg)',
  loadNodes: 'int slurm_load_node(int64_t update_time, _Out_ void **resp, uint16_t show_flags)',
  freeNodes: 'void slurm_free_node_info_msg(void *msg)',
  errno: 'int slurm_get_errno(void)',
  strerror: 'const char *slurm_strerror(int errnum)',
  stateName: 'const char *slurm_job_state_string(uint32_t state)',
} as const;

/** Byte offsets and sizes in slurm.h 22.05 on x86_64 (checked by test/unit/slurm/libslurm.test.ts). */
export const LAYOUT = {
  jobMsg: { record_count: 16, job_array: 24 },
  job: { size: 904, job_id: 388, job_state: 400, nodes: 480, user_id: 864 },
  nodeMsg: { record_count: 8, node_array: 16 },
  node: { size: 336, name: 176, node_addr: 192, node_hostname: 200 },
} as const;

/** show_flags: SHOW_ALL (jobs and nodes of hidden partitions too). */
export const SHOW_ALL = 1;
/** slurm_errno.h: the job id is unknown to slurmctld (finished and purged, or never). */
export const ESLURM_INVALID_JOB_ID = 2017;
/** slurm_load_* return value when they failed and set errno. */
export const SLURM_ERROR = -1;

/** slurm_errno.h ranges meaning "slurmctld could not be asked" (connection, send, receive, socket timeouts). */
export function isCommunicationError(errnum: number): boolean {
  return (errnum >= 1000 && errnum < 1100) || (errnum >= 1800 && errnum < 1900) || (errnum >= 5000 && errnum < 5100);
}

/** What the thread answers for one job. */
export interface JobRow {
  job_id: number;
  user_id: number;
  /** slurm_job_state_string(): RUNNING, COMPLETING, PENDING, ... (what squeue %T prints). */
  state: string;
  /** The hostlist expression of its nodes, '' when it has none yet. */
  nodes: string;
}

export interface NodeRow {
  name: string;
  addr: string;
  hostname: string;
}

export type ThreadQuestion = { op: 'job'; job: number } | { op: 'nodes' };
export type ThreadRequest = ThreadQuestion & { id: number };
export type ThreadAnswer =
  | { id: number; ok: true; job?: JobRow | null; nodes?: NodeRow[] }
  /** rc: the call's return value; errno: slurm_get_errno() right after it, on that thread. */
  | { id: number; ok: false; rc: number; errno: number; text: string };

/**
 * The thread's code (run with worker_threads' `eval`: it must not depend on how the helper was
 * compiled or bundled). workerData: { koffi: resolved path of koffi, lib, decls, layout, conf,
 * showAll, api }. Messages in: ThreadRequest; out: ThreadAnswer, or { fatal } once at start.
 */
export const THREAD_SOURCE = `
const { parentPort, workerData: w } = require('node:worker_threads');
let f;
try {
  const koffi = require(w.koffi);
  // RTLD_GLOBAL: Slurm's own plugins (auth_munge.so, ...) resolve their symbols from libslurm.
  const h = koffi.load(w.lib, { global: true });
  f = {};
  for (const [k, d] of Object.entries(w.decls)) f[k] = h.func(d);
  const api = Number(f.apiVersion()) >> 16;
  if (api !== w.api) throw new Error(w.lib + ' has API version ' + api + ', but this krb5bridge reads the struct layout of version ' + w.api + ' (Slurm 22.05)');
  f.init(w.conf);
  f.koffi = koffi;
} catch (e) {
  parentPort.postMessage({ fatal: String(e && e.message || e) });
  f = undefined;
}
const L = w.layout;
function str(k, p, off) { const s = k.decode(p, off, 'const char *'); return s == null ? '' : s; }
parentPort.on('message', (m) => {
  if (!f) return;
  const k = f.koffi;
  const out = [null];
  const rc = m.op === 'job' ? f.loadJob(out, m.job, w.showAll) : f.loadNodes(0, out, w.showAll);
  if (rc !== 0) {
    const errno = rc === -1 ? f.errno() : rc;
    parentPort.postMessage({ id: m.id, ok: false, rc, errno, text: f.strerror(errno) || ('error ' + errno) });
    return;
  }
  const msg = out[0];
  try {
    if (m.op === 'job') {
      const n = k.decode(msg, L.jobMsg.record_count, 'uint32_t');
      const arr = k.decode(msg, L.jobMsg.job_array, 'void *');
      let job = null;
      for (let i = 0; i < n && job === null; i++) {
        const b = i * L.job.size;
        if (k.decode(arr, b + L.job.job_id, 'uint32_t') !== m.job) continue;
        job = { job_id: m.job, user_id: k.decode(arr, b + L.job.user_id, 'uint32_t'),
          state: f.stateName(k.decode(arr, b + L.job.job_state, 'uint32_t')) || 'UNKNOWN', nodes: str(k, arr, b + L.job.nodes) };
      }
      parentPort.postMessage({ id: m.id, ok: true, job });
    } else {
      const n = k.decode(msg, L.nodeMsg.record_count, 'uint32_t');
      const arr = k.decode(msg, L.nodeMsg.node_array, 'void *');
      const nodes = [];
      for (let i = 0; i < n; i++) {
        const b = i * L.node.size;
        nodes.push({ name: str(k, arr, b + L.node.name), addr: str(k, arr, b + L.node.node_addr), hostname: str(k, arr, b + L.node.node_hostname) });
      }
      parentPort.postMessage({ id: m.id, ok: true, nodes });
    }
  } finally {
    if (m.op === 'job') f.freeJobs(msg); else f.freeNodes(msg);
  }
});
`;
