import { JOB_STATES, exitStatus, mapState } from '../../../helper/src/gateway/states';
import { jobView } from '../../../helper/src/gateway/jobs';

describe('job states', () => {
  test.each([
    ['PENDING', 'queued'],
    ['REQUEUE_HOLD', 'queued'],
    ['CONFIGURING', 'queued'],
    ['RUNNING', 'running'],
    ['COMPLETING', 'running'],
    ['SUSPENDED', 'running'],
    ['COMPLETED', 'completed'],
    ['FAILED', 'failed'],
    ['NODE_FAIL', 'failed'],
    ['OUT_OF_MEMORY', 'failed'],
    ['BOOT_FAIL', 'failed'],
    ['CANCELLED', 'cancelled'],
    ['PREEMPTED', 'cancelled'],
    ['TIMEOUT', 'timeout'],
    ['DEADLINE', 'timeout'],
  ])('%s is %s', (slurm, ours) => expect(mapState(slurm, false)).toBe(ours));

  test('an unknown state is queued until the job has an end time, then failed', () => {
    expect(mapState('SOMETHING_NEW', false)).toBe('queued');
    expect(mapState('SOMETHING_NEW', true)).toBe('failed');
  });

  test('the documented set is exactly six states', () => {
    expect([...JOB_STATES]).toEqual(['queued', 'running', 'completed', 'failed', 'cancelled', 'timeout']);
  });

  test('exit codes are wait statuses: exit N is N, a signal N is 128+N, nothing before the end', () => {
    expect(exitStatus(0, true)).toBe(0);
    expect(exitStatus(256, true)).toBe(1);
    expect(exitStatus(42 << 8, true)).toBe(42);
    expect(exitStatus(9, true)).toBe(137);
    expect(exitStatus(15, true)).toBe(143);
    expect(exitStatus(0, false)).toBeNull();
    expect(exitStatus(null, true)).toBeNull();
    expect(exitStatus(-1, true)).toBeNull();
  });

  test("a Slurm job record becomes the documented view; end time and exit code only once it ended", () => {
    expect(jobView({ job_id: 7, name: 'x', job_state: 'RUNNING', submit_time: 1796125068, start_time: 1796125070, end_time: 1796128670, exit_code: 0 })).toEqual({
      job_id: 7,
      name: 'x',
      state: 'running',
      slurm_state: 'RUNNING',
      submit_time: '2026-12-01T11:37:48Z',
      start_time: '2026-12-01T11:37:50Z',
      end_time: null,
      exit_code: null,
    });
    expect(jobView({ job_id: 8, name: 'y', job_state: 'FAILED', submit_time: 1796125068, start_time: 0, end_time: 1796125070, exit_code: 512 })).toMatchObject({ state: 'failed', start_time: null, end_time: '2026-12-01T11:37:50Z', exit_code: 2 });
  });
});
