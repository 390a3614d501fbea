/** The audit log: one JSON line per event, O_APPEND, 0600 root, refusing unsafe files. */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { auditLine, openAuditLog } from '../../../helper/src/audit/audit';

let base: string;
beforeEach(() => (base = fs.mkdtempSync('/tmp/krb5bridge-audit-')));
afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

test('a line: time, op, result, code, who, where, which job; undefined fields left out', () => {
  const line = auditLine({ op: 'fetch', result: 'refused', code: 'E_NO_JOB', uid: 0, principal: 'a@R', host: '10.0.0.1', job: '42', target_uid: 1001, mech: 'munge' }, new Date(0));
  expect(line).toBe('{"time":"1970-01-01T00:00:00.000Z","op":"fetch","result":"refused","code":"E_NO_JOB","uid":0,"principal":"a@R","host":"10.0.0.1","job":"42","target_uid":1001,"mech":"munge"}\n');
});

test('created 0600, appended to (never truncated), one line per event', () => {
  const f = join(base, 'audit.log');
  fs.writeFileSync(f, 'earlier line\n', { mode: 0o600 });
  const a = openAuditLog(f, () => undefined);
  a.record({ op: 'push', result: 'ok', uid: 1001 });
  a.record({ op: 'remove', result: 'ok', uid: 1001 });
  a.close();
  const lines = fs.readFileSync(f, 'utf8').trimEnd().split('\n');
  expect(lines[0]).toBe('earlier line');
  expect(lines.slice(1).map((l) => JSON.parse(l).op)).toEqual(['push', 'remove']);
  const g = join(base, 'new.log');
  openAuditLog(g, () => undefined).close();
  expect(fs.statSync(g).mode & 0o777).toBe(0o600);
});

test('a symlink, a readable file, another owner or a hard link is refused E_UNSAFE_PATH', () => {
  const f = join(base, 'audit.log');
  fs.writeFileSync(f, '', { mode: 0o644 });
  expect(() => openAuditLog(f, () => undefined)).toThrow(expect.objectContaining({ code: 'E_UNSAFE_PATH', message: expect.stringContaining(`audit log ${f} has mode 0644`) }));
  fs.chmodSync(f, 0o600);
  fs.symlinkSync(f, join(base, 'link.log'));
  expect(() => openAuditLog(join(base, 'link.log'), () => undefined)).toThrow(/symbolic link/);
  fs.linkSync(f, join(base, 'hard.log'));
  expect(() => openAuditLog(f, () => undefined)).toThrow(/has 2 hard links/);
  fs.unlinkSync(join(base, 'hard.log'));
  fs.chownSync(f, 65534, 65534);
  expect(() => openAuditLog(f, () => undefined)).toThrow(/owned by uid 65534/);
});
