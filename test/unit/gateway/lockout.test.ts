import { LoginGuard } from '../../../helper/src/gateway/lockout';

function guard(o: Partial<ConstructorParameters<typeof LoginGuard>[0]> = {}) {
  let now = 1_000_000;
  const g = new LoginGuard({ failures: 3, windowMs: 10_000, perMinute: 100, ...o }, () => now);
  return { g, advance: (ms: number) => (now += ms) };
}

describe('login guard: lockout windows and rates', () => {
  test('three failures in the window lock the user for the window; then it clears by itself', () => {
    const { g, advance } = guard();
    for (let i = 0; i < 3; i++) {
      expect(g.attempt('alice', '10.0.0.1')).toEqual({ ok: true });
      g.failed('alice', '10.0.0.1');
    }
    expect(g.attempt('alice', '10.0.0.1')).toEqual({ ok: false, code: 'E_LOCKED_OUT', retryAfter: 10, key: 'user:alice' });
    // From another address too: the lock is the user's.
    expect(g.attempt('alice', '10.0.0.2')).toMatchObject({ ok: false, code: 'E_LOCKED_OUT', key: 'user:alice' });
    advance(4_000);
    expect(g.attempt('alice', '10.0.0.1')).toMatchObject({ ok: false, retryAfter: 6 });
    advance(6_000);
    expect(g.attempt('alice', '10.0.0.1')).toEqual({ ok: true });
  });

  test('failures spread wider than the window never lock', () => {
    const { g, advance } = guard();
    for (let i = 0; i < 10; i++) {
      expect(g.attempt('bob', '10.0.0.1').ok).toBe(true);
      g.failed('bob', '10.0.0.1');
      advance(5_001);
    }
  });

  test('a success forgets the user\'s failures, not the address\'s', () => {
    const { g } = guard();
    g.failed('carol', '10.0.0.9');
    g.failed('carol', '10.0.0.9');
    g.succeeded('carol');
    g.failed('carol', '10.0.0.9');
    g.failed('carol', '10.0.0.9');
    expect(g.attempt('carol', '10.0.0.9')).toEqual({ ok: true });
    // The address counted all 4; its limit is 4 x 3 = 12.
    for (let i = 0; i < 8; i++) g.failed(`user${i}`, '10.0.0.9');
    expect(g.attempt('dave', '10.0.0.9')).toMatchObject({ ok: false, code: 'E_LOCKED_OUT', key: 'addr:10.0.0.9' });
    expect(g.attempt('dave', '10.0.0.10')).toEqual({ ok: true });
  });

  test('attempts per user per minute are limited, failed or not', () => {
    const { g, advance } = guard({ perMinute: 5 });
    for (let i = 0; i < 5; i++) expect(g.attempt('erin', `10.0.1.${i}`).ok).toBe(true);
    expect(g.attempt('erin', '10.0.1.99')).toEqual({ ok: false, code: 'E_RATE_LIMITED', retryAfter: 60, key: 'user:erin' });
    advance(60_001);
    expect(g.attempt('erin', '10.0.1.99').ok).toBe(true);
  });

  test('memory is bounded: the oldest keys go first', () => {
    const { g } = guard({ maxKeys: 100 });
    for (let i = 0; i < 1000; i++) g.failed(`u${i}`, `10.1.${i >> 8}.${i & 255}`);
    expect(g.size).toBeLessThanOrEqual(100);
  });
});
