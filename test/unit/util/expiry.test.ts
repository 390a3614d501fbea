/** util/expiry.ts: the durations people type, and when a stored credential stops being usable. */
import { lastValid, parseDuration } from '../../../helper/src/util/expiry';

test('durations in seconds, minutes, hours and days; a bare number is seconds', () => {
  expect([parseDuration('90s', 'x'), parseDuration('30m', 'x'), parseDuration('2h', 'x'), parseDuration('7d', 'x'), parseDuration('45', 'x')]).toEqual([90, 1800, 7200, 604800, 45]);
});

test.each(['', '2x', '-1h', '1.5h', 'h', '2 h 3', '99999999d'])('"%s" is refused with E_USAGE naming the option', (text) => {
  expect(() => parseDuration(text, '--expiring-in')).toThrow(`--expiring-in must be a duration like 90s, 30m, 2h or 7d, got "${text}"`);
});

test('a renewable ticket lasts until its renew-until, another until its end time', () => {
  expect(lastValid({ endtime: 100, renew_till: 500 })).toBe(500);
  expect(lastValid({ endtime: 100, renew_till: 0 })).toBe(100);
  expect(lastValid({ endtime: 100, renew_till: 100 })).toBe(100);
});
