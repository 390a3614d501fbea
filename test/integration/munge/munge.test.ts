/** The munge bindings against a real munged (scripts/testcluster --only kdc,munge). */
import { execFileSync } from 'node:child_process';
import { mungeCauseOf, mungeDecode, mungeEncode } from '../../../helper/src/munge';
import { Cluster, clusterDown, clusterUp } from '../../lib/store';
import { failure } from '../../lib/failure';

let c: Cluster;
beforeAll(() => {
  c = clusterUp();
});
afterAll(() => clusterDown(c));

test('encode then decode gives back the payload and our uid/gid', async () => {
  const payload = Buffer.from(JSON.stringify({ hello: 'world', pad: 'x'.repeat(680) }));
  const cred = await mungeEncode(payload, { socket: c.mungeSocket });
  expect(cred).toMatch(/^MUNGE:[A-Za-z0-9+/=]+:$/);
  const d = await mungeDecode(cred, { socket: c.mungeSocket });
  expect(d).toEqual({ uid: 0, gid: 0, payload });
});

test('unmunge (the munge tools) reads what we encode', async () => {
  const cred = await mungeEncode(Buffer.from('from koffi'), { socket: c.mungeSocket });
  const out = execFileSync('unmunge', ['-S', c.mungeSocket, '-m', '/dev/null'], { input: cred, encoding: 'utf8' });
  expect(out).toBe('from koffi');
});

test('a replayed credential is refused: E_AUTH, munge error 17, payload still returned', async () => {
  const cred = await mungeEncode(Buffer.from('once'), { socket: c.mungeSocket });
  await mungeDecode(cred, { socket: c.mungeSocket });
  const e = await failure(mungeDecode(cred, { socket: c.mungeSocket }));
  expect(e.code).toBe('E_AUTH');
  expect(e.message).toMatch(/munge_decode: .*replayed.*\(munge error 17\)/i);
  expect(mungeCauseOf(e)).toEqual({ mungeCode: 17, payload: Buffer.from('once') });
});

test('a credential restricted to another uid is refused even for root: E_AUTH, munge error 18', async () => {
  const cred = await mungeEncode(Buffer.from('for 12345'), { socket: c.mungeSocket, uidRestriction: 12345 });
  const e = await failure(mungeDecode(cred, { socket: c.mungeSocket }));
  expect(e.code).toBe('E_AUTH');
  expect(mungeCauseOf(e)?.mungeCode).toBe(18);
});

test('garbage is an invalid credential: E_AUTH', async () => {
  const e = await failure(mungeDecode('MUNGE:not-a-credential:', { socket: c.mungeSocket }));
  expect(e.code).toBe('E_AUTH');
});

test('an unreachable munged is E_MUNGE naming the socket', async () => {
  const e = await failure(mungeEncode(Buffer.from('x'), { socket: '/nonexistent/munge.socket' }));
  expect(e.code).toBe('E_MUNGE');
  expect(e.message).toContain('via socket /nonexistent/munge.socket');
});

test('1,000 calls at once all succeed (bounded in-flight calls, no koffi queue overflow)', async () => {
  const creds = await Promise.all(Array.from({ length: 1000 }, (_, i) => mungeEncode(Buffer.from(`n${i}`), { socket: c.mungeSocket })));
  const decoded = await Promise.all(creds.map((cr) => mungeDecode(cr, { socket: c.mungeSocket })));
  expect(decoded.map((d) => d.payload.toString())).toEqual(Array.from({ length: 1000 }, (_, i) => `n${i}`));
});

test('async calls do not block the event loop', async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  await Promise.all(Array.from({ length: 300 }, () => mungeEncode(Buffer.from('y'.repeat(680)), { socket: c.mungeSocket })));
  clearInterval(timer);
  expect(ticks).toBeGreaterThan(0);
});
