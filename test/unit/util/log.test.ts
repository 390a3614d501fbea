/** util/log.ts: the one place daemon lines are made: level, key=value fields, JSON, no secrets. */
import { fieldsOf, formatLogLine, levelOf, redact } from '../../../helper/src/util/log';

const at = new Date('2026-12-01T10:00:00.000Z');

test('text lines keep the message as it was, after the time and the level', () => {
  expect(formatLogLine('op=push uid=1000 principal=alice@EX.TEST result=ok stored', 'info', at, false, 'text')).toBe(
    '2026-12-01T10:00:00.000Z krb5bridge info: op=push uid=1000 principal=alice@EX.TEST result=ok stored',
  );
});

test('under journald the line starts with the syslog priority and leaves the time to the journal', () => {
  expect(formatLogLine('sweep failed: x', 'warning', at, true, 'text')).toBe('<4>krb5bridge warning: sweep failed: x');
  expect(formatLogLine('listening', 'info', at, true, 'text')).toBe('<6>krb5bridge info: listening');
  expect(formatLogLine('boom', 'error', at, true, 'text')).toBe('<3>krb5bridge error: boom');
});

test('json lines carry time, level, the message and its key=value fields', () => {
  const line = formatLogLine('op=fetch uid=0 target=1000 job=42 result=E_NO_JOB no such job', 'warning', at, false, 'json');
  expect(JSON.parse(line)).toEqual({
    time: '2026-12-01T10:00:00.000Z',
    level: 'warning',
    msg: 'op=fetch uid=0 target=1000 job=42 result=E_NO_JOB no such job',
    op: 'fetch',
    uid: '0',
    target: '1000',
    job: '42',
    result: 'E_NO_JOB',
  });
  // A field named like the envelope's own keys never replaces them.
  expect(JSON.parse(formatLogLine('level=debug time=x msg=y', 'info', at, false, 'json'))).toEqual({ time: '2026-12-01T10:00:00.000Z', level: 'info', msg: 'level=debug time=x msg=y' });
});

test('the level follows the result when the caller gives none', () => {
  expect(levelOf('op=push uid=1000 result=ok stored')).toBe('info');
  expect(levelOf('op=push uid=1000 result=E_PERMISSION denied')).toBe('warning');
  expect(levelOf('op=list uid=0 result=E_INTERNAL x')).toBe('error');
  expect(levelOf('refresh cycle failed: x')).toBe('warning');
  expect(levelOf('keeper listening on /run/krb5bridge/keeper.sock')).toBe('info');
});

test('fields are the key=value words only', () => {
  expect(fieldsOf('job 42 uid 1000: no ticket yet (E_STORE_UNREACHABLE x)')).toEqual({});
  expect(fieldsOf('mech=krb5 principal=host/n1.example@EX peer=10.0.0.1 result=ok authenticated')).toEqual({
    mech: 'krb5',
    principal: 'host/n1.example@EX',
    peer: '10.0.0.1',
    result: 'ok',
  });
});

test('nothing shaped like a secret reaches a line: munge credentials, keys, ticket bytes; one line per event', () => {
  const key = Buffer.alloc(32, 7).toString('base64');
  const ticket = Buffer.alloc(700, 9).toString('base64');
  const munge = 'MUNGE:AwQFAAB1pMi7FjyN0Au8Qj6WnJ4eRK1X+abc=:';
  for (const secret of [key, ticket, munge]) {
    const text = formatLogLine(`op=push got ${secret} here`, 'info', at, false, 'text');
    expect(text).not.toContain(secret);
    expect(text).toContain('[redacted]');
    expect(formatLogLine(`x=${secret}`, 'info', at, false, 'json')).not.toContain(secret);
  }
  expect(redact('two\nlines\r\nhere')).toBe('two lines here');
  // Paths, principals and host names are not secrets and stay.
  const plain = 'ccache /tmp/krb5cc_1000_42_AbC123 principal=alice@EXAMPLE.ORG host/n1.cluster.example.org';
  expect(redact(plain)).toBe(plain);
});
