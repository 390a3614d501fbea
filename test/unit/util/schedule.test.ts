/**
 * The one refresh schedule (helper/src/util/schedule.ts), shared by the store's renewer and the
 * node keeper: due times, and retries that get shorter as expiry nears, with a last attempt.
 */
import { RefreshSchedule } from '../../../helper/src/util/schedule';

const T = 2_000_000_000;

test('due: margin before the end, at most life/divisor, minus a jitter of up to margin/jitterDivisor', () => {
  const s = new RefreshSchedule({ marginSeconds: 600, lifeDivisor: 2, jitterDivisor: 4, firstRetrySeconds: 10, maxRetrySeconds: 300, random: () => 0.999 });
  expect(s.due({ endtime: T + 3600, since: T })).toBe(T + 3600 - 600 - 149);
  expect(s.due({ endtime: T + 60, since: T })).toBe(T + 60 - 30 - 7); // a short ticket: half its life
  const keeper = new RefreshSchedule({ marginSeconds: 300, lifeDivisor: 3, firstRetrySeconds: 5, maxRetrySeconds: 60 });
  expect(keeper.due({ endtime: T + 60, since: T })).toBe(T + 40);
});

test('retry: back-off doubling to its cap, far from the end', () => {
  const s = new RefreshSchedule({ marginSeconds: 600, lifeDivisor: 2, firstRetrySeconds: 10, maxRetrySeconds: 300, lastAttemptLead: 12 });
  const end = T + 100_000;
  expect([1, 2, 3, 4, 5, 6, 7].map((f) => s.retry(T, f, end) - T)).toEqual([10, 20, 40, 80, 160, 300, 300]);
});

test('retry: shorter as expiry nears (at most half of what is left), a last attempt lead seconds before it, then none', () => {
  const s = new RefreshSchedule({ marginSeconds: 600, lifeDivisor: 2, firstRetrySeconds: 10, maxRetrySeconds: 300, lastAttemptLead: 12 });
  const end = T + 200;
  // Failing every time, from 200 s before the end: each wait at most half of what is left before the last attempt.
  const attempts: number[] = [];
  let now = T;
  for (let f = 1; now < end; f++) {
    const next = s.retry(now, f, end);
    attempts.push(next - T);
    if (next === end) break;
    now = next;
  }
  expect(attempts).toEqual([10, 30, 70, 129, 158, 173, 180, 184, 186, 187, 188, 200]);
  // The last attempt is at end - 12 (188 = 200 - 12); once it has failed, nothing before the end.
  expect(s.retry(T + 188, 20, end)).toBe(end);
  expect(s.retry(T + 195, 1, end)).toBe(end);
});

test('retry never busy-loops: at least a second between attempts', () => {
  const s = new RefreshSchedule({ marginSeconds: 600, lifeDivisor: 2, firstRetrySeconds: 10, maxRetrySeconds: 300, lastAttemptLead: 12 });
  const end = T + 14;
  expect(s.retry(T, 1, end)).toBe(T + 1);
  expect(s.retry(T + 1, 2, end)).toBe(T + 2);
});
