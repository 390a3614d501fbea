/**
 * Jobs between the gateway's API and slurmrestd v0.0.38: a submission becomes Slurm's job
 * description (with a minimal environment of our own: slurmrestd requires one, and slurmctld
 * stores it, so nothing secret ever goes there), Slurm's job records become the documented view,
 * and the cluster's partitions and nodes become the cluster answer.
 */
import type { Session } from './sessions';
import { JobState, exitStatus, mapState } from './states';

export interface JobRequest {
  script: string;
  name?: string;
  partition?: string;
  cpus?: number;
  memory_mb?: number;
  time_limit_minutes?: number;
  working_directory?: string;
  stdout?: string;
  stderr?: string;
  environment?: Record<string, string>;
  array?: string;
}

/** slurmrestd's POST /job/submit body. */
export function slurmSubmission(r: JobRequest, s: Session): { script: string; job: Record<string, unknown> } {
  const cwd = r.working_directory ?? s.home ?? '/tmp';
  const environment: Record<string, string> = Object.assign(Object.create(null), {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: s.home ?? cwd,
    USER: s.user,
    LOGNAME: s.user,
  });
  for (const [k, v] of Object.entries(r.environment ?? {})) environment[k] = v;
  const job: Record<string, unknown> = {
    name: r.name ?? 'gateway-job',
    current_working_directory: cwd,
    environment: { ...environment },
  };
  if (r.partition !== undefined) job.partition = r.partition;
  if (r.cpus !== undefined) job.cpus_per_task = r.cpus;
  if (r.memory_mb !== undefined) job.memory_per_node = r.memory_mb;
  if (r.time_limit_minutes !== undefined) job.time_limit = r.time_limit_minutes;
  if (r.stdout !== undefined) job.standard_output = r.stdout;
  if (r.stderr !== undefined) job.standard_error = r.stderr;
  if (r.array !== undefined) job.array = r.array;
  return { script: r.script, job };
}

export interface JobView {
  job_id: number;
  name: string;
  state: JobState;
  slurm_state: string;
  submit_time: string | null;
  start_time: string | null;
  end_time: string | null;
  exit_code: number | null;
}

const FINAL = new Set<JobState>(['completed', 'failed', 'cancelled', 'timeout']);

function time(t: unknown): string | null {
  return typeof t === 'number' && t > 0 ? new Date(t * 1000).toISOString().replace('.000Z', 'Z') : null;
}

/** Slurm's job record -> the gateway's view. */
export function jobView(j: Record<string, unknown>): JobView {
  const slurmState = typeof j.job_state === 'string' ? j.job_state : 'UNKNOWN';
  const state = mapState(slurmState, typeof j.end_time === 'number' && j.end_time > 0);
  const ended = FINAL.has(state);
  return {
    job_id: Number(j.job_id),
    name: typeof j.name === 'string' ? j.name : '',
    state,
    slurm_state: slurmState,
    submit_time: time(j.submit_time),
    start_time: time(j.start_time),
    end_time: ended ? time(j.end_time) : null,
    exit_code: exitStatus(j.exit_code as number | null | undefined, ended),
  };
}

/** Is this Slurm job record the session user's? (name and uid both, as slurmctld reports them) */
export function ownedBy(j: Record<string, unknown>, s: Session): boolean {
  return j.user_name === s.user && j.user_id === s.uid;
}

const int = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : 0);

/** slurmrestd's /partitions and /nodes -> the cluster answer (what hipercow's Clusters and ClusterLoad give). */
export function clusterView(partitions: Record<string, unknown>[], nodes: Record<string, unknown>[]) {
  const nodeViews = nodes.map((n) => ({
    name: String(n.name ?? ''),
    state: String(n.state ?? 'unknown'),
    cpus: int(n.cpus),
    cpus_in_use: int(n.alloc_cpus),
    memory_mb: int(n.real_memory),
    memory_in_use_mb: int(n.alloc_memory),
    partitions: Array.isArray(n.partitions) ? n.partitions.map(String) : [],
  }));
  const sum = (k: 'cpus' | 'cpus_in_use' | 'memory_mb' | 'memory_in_use_mb'): number => nodeViews.reduce((a, n) => a + n[k], 0);
  return {
    partitions: partitions.map((p) => {
      const max = int(p.max_time_limit);
      return {
        name: String(p.name ?? ''),
        state: String(p.state ?? 'unknown').toLowerCase(),
        default: Array.isArray(p.flags) && p.flags.includes('default'),
        nodes: int(p.total_nodes),
        cpus: int(p.total_cpus),
        // Slurm says -1 (or nothing) for INFINITE.
        max_time_minutes: max > 0 ? max : null,
      };
    }),
    nodes: nodeViews,
    totals: { nodes: nodeViews.length, cpus: sum('cpus'), cpus_in_use: sum('cpus_in_use'), memory_mb: sum('memory_mb'), memory_in_use_mb: sum('memory_in_use_mb') },
  };
}
