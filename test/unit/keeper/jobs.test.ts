/**
 * The keeper's job table as its cycle timer sees it: when the next cycle must come sooner than the
 * regular tick (a job falls due before it), and when it must not (a job due now was just handled).
 */
import { JobTable } from '../../../helper/src/keeper/jobs';
import { RefreshSchedule } from '../../../helper/src/util/schedule';

const schedule = new RefreshSchedule({ marginSeconds: 20, lifeDivisor: 3, firstRetrySeconds: 5, maxRetrySeconds: 60, lastAttemptLead: 2 });
const job = (n: number) => ({ job: String(n), uid: 1000, gid: 1000, path: `/tmp/krb5cc_1000_${n}_AbCdEf` });

test('nextDue is the earliest due time after now; jobs due now or before wait for the regular cycle', () => {
  let now = 1_000;
  const t = new JobTable('/nonexistent', schedule, () => now, () => undefined);
  expect(t.nextDue(now)).toBeUndefined();
  const a = t.track(job(1), { client: 'u@R', endtime: now + 60, renew_till: now + 600 });
  const b = t.track(job(2), { client: 'u@R', endtime: now + 30, renew_till: now + 600 });
  expect([a.due, b.due]).toEqual([now + 40, now + 20]); // margin 20, at most a third of the life (10 for b)
  expect(t.nextDue(now)).toBe(now + 20);
  b.due = now; // handled at now, asks again next cycle: not a reason for an early cycle
  t.trackPending(job(3)); // due 0: the same
  expect(t.nextDue(now)).toBe(now + 40);
  now += 41;
  expect(t.nextDue(now)).toBeUndefined();
});
