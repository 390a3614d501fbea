/**
 * Slurm's job states mapped to the gateway's small documented set (docs/gateway.md); Slurm's own
 * state is always given beside it (`slurm_state`). A state this table does not know (a newer
 * Slurm) is "queued" while it has no end time, else "failed".
 */
export const JOB_STATES = ['queued', 'running', 'completed', 'failed', 'cancelled', 'timeout'] as const;
export type JobState = (typeof JOB_STATES)[number];

const TABLE: Record<string, JobState> = {
  PENDING: 'queued',
  REQUEUED: 'queued',
  REQUEUE_FED: 'queued',
  REQUEUE_HOLD: 'queued',
  RESV_DEL_HOLD: 'queued',
  SPECIAL_EXIT: 'queued',
  CONFIGURING: 'queued',
  RUNNING: 'running',
  COMPLETING: 'running',
  SUSPENDED: 'running',
  STOPPED: 'running',
  RESIZING: 'running',
  SIGNALING: 'running',
  STAGE_OUT: 'running',
  COMPLETED: 'completed',
  FAILED: 'failed',
  NODE_FAIL: 'failed',
  BOOT_FAIL: 'failed',
  OUT_OF_MEMORY: 'failed',
  REVOKED: 'failed',
  CANCELLED: 'cancelled',
  PREEMPTED: 'cancelled',
  TIMEOUT: 'timeout',
  DEADLINE: 'timeout',
};

export function mapState(slurmState: string, ended: boolean): JobState {
  return TABLE[slurmState.toUpperCase()] ?? (ended ? 'failed' : 'queued');
}

/**
 * Slurm's exit_code is a wait(2) status: the script's exit status (0-255), or 128 + the signal
 * that killed it; null until the job has ended.
 */
export function exitStatus(waitStatus: number | null | undefined, ended: boolean): number | null {
  if (!ended || typeof waitStatus !== 'number' || !Number.isInteger(waitStatus) || waitStatus < 0) return null;
  const signal = waitStatus & 0x7f;
  return signal !== 0 ? 128 + signal : (waitStatus >> 8) & 0xff;
}
