import { MAX_SESSIONS_PER_USER, Session, Sessions } from '../../../helper/src/gateway/sessions';

const base: Omit<Session, 'expires'> = { user: 'alice', uid: 1001, gid: 1001, home: '/home/alice', principal: 'alice@R', mech: 'password', ccache: 'MEMORY:x' };

describe('sessions', () => {
  let now = 1_000_000;
  const ended: Session[] = [];
  let s: Sessions;
  beforeEach(() => {
    now = 1_000_000;
    ended.length = 0;
    s = new Sessions((x) => ended.push(x), () => now);
  });
  afterEach(() => s.close());

  test('a token is 32 random bytes in base64url; it finds its session until the ticket ends', () => {
    const t = s.create({ ...base, expires: now + 5000 });
    expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(s.create({ ...base, expires: now + 5000 })).not.toBe(t);
    expect(s.get(t)?.user).toBe('alice');
    now += 5000;
    expect(s.get(t)).toBeUndefined();
    expect(ended.map((x) => x.ccache)).toEqual(['MEMORY:x']);
  });

  test('tampered, malformed and absent tokens find nothing', () => {
    const t = s.create({ ...base, expires: now + 5000 });
    const flipped = t.slice(0, 5) + (t[5] === 'a' ? 'b' : 'a') + t.slice(6);
    for (const bad of [flipped, t + 'A', t.slice(1), '', undefined, 'x'.repeat(43), `${t}\n`]) expect(s.get(bad)).toBeUndefined();
    expect(s.get(t)).toBeDefined();
  });

  test('logout revokes one token and ends its session (its ccache is destroyed)', () => {
    const a = s.create({ ...base, expires: now + 5000, ccache: 'MEMORY:a' });
    const b = s.create({ ...base, expires: now + 5000, ccache: 'MEMORY:b' });
    expect(s.revoke(a)).toBe(true);
    expect(s.revoke(a)).toBe(false);
    expect(s.get(a)).toBeUndefined();
    expect(s.get(b)).toBeDefined();
    expect(ended.map((x) => x.ccache)).toEqual(['MEMORY:a']);
  });

  test('the session holds no password; a user has at most MAX_SESSIONS_PER_USER (the oldest goes)', () => {
    const first = s.create({ ...base, expires: now + 1000, ccache: 'MEMORY:first' });
    for (let i = 1; i < MAX_SESSIONS_PER_USER; i++) s.create({ ...base, expires: now + 5000 + i });
    expect(s.size).toBe(MAX_SESSIONS_PER_USER);
    s.create({ ...base, expires: now + 9000 });
    expect(s.size).toBe(MAX_SESSIONS_PER_USER);
    expect(s.get(first)).toBeUndefined();
    expect(ended[0]!.ccache).toBe('MEMORY:first');
  });

  test('close ends every session', () => {
    s.create({ ...base, expires: now + 5000 });
    s.create({ ...base, user: 'bob', expires: now + 5000 });
    s.close();
    expect(ended).toHaveLength(2);
  });
});
