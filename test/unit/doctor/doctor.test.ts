/** helper/src/doctor: the exit status, the line format, and finding the plugstack line (with includes). */
import { chmodSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitStatus, findingLine } from '../../../helper/src/doctor';
import { plugstackCheck } from '../../../helper/src/doctor/slurm';
import { fail, ok, skip, warn } from '../../../helper/src/doctor/types';

const dir = mkdtempSync(join(tmpdir(), 'krb5bridge-doctor-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('the exit status is the worst finding: 0 ok or skipped, 1 a warning, 2 a failure', () => {
  expect(exitStatus([ok('a', 'x'), skip('b', 'y')])).toBe(0);
  expect(exitStatus([ok('a', 'x'), warn('b', 'y', 'z')])).toBe(1);
  expect(exitStatus([warn('b', 'y', 'z'), fail('c', 'y', 'z'), ok('a', 'x')])).toBe(2);
  expect(exitStatus([])).toBe(0);
});

test('one line per check; warnings and failures carry the remedy', () => {
  expect(findingLine(ok('munge', 'encode/decode on /s works'))).toBe('ok    munge: encode/decode on /s works');
  expect(findingLine(fail('store', 'no answer', 'start it'))).toBe('fail  store: no answer => start it');
  expect(findingLine(warn('clock', '+7 s', 'use NTP'))).toBe('warn  clock: +7 s => use NTP');
});

describe('plugstack', () => {
  const node = process.execPath;
  const helper = join(dir, 'krb5bridge.cjs');
  const plugin = join(dir, 'krb5bridge.so');
  writeFileSync(helper, '');
  writeFileSync(plugin, '');
  const slurmConf = join(dir, 'slurm.conf');
  const write = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  test('a line in a file included by the one slurm.conf names', () => {
    mkdirSync(join(dir, 'plugstack.conf.d'), { recursive: true });
    write('plugstack.conf.d/10-other.conf', 'optional /usr/lib/other.so\n');
    write('plugstack.conf.d/50-krb5bridge.conf', `# site\nrequired ${plugin} node=${node} helper=${helper} config=/etc/krb5bridge/krb5bridge.conf\n`);
    const stack = write('stack.conf', `include ${dir}/plugstack.conf.d/*.conf\n`);
    const f = plugstackCheck(slurmConf, `ClusterName=x\nPlugStackConfig=${stack}\n`);
    expect(f).toEqual(ok('plugstack', `${dir}/plugstack.conf.d/50-krb5bridge.conf loads ${plugin} (node=${node}, helper=${helper})`));
  });

  test('without PlugStackConfig, plugstack.conf beside slurm.conf; a commented-out line does not count', () => {
    write('plugstack.conf', `# required ${plugin}\n`);
    expect(plugstackCheck(slurmConf, 'ClusterName=x\n')).toMatchObject({ status: 'fail', detail: `no krb5bridge.so line in ${dir}/plugstack.conf: jobs get no Kerberos credentials` });
  });

  test('each unusable path is named', () => {
    write('plugstack.conf', `required ${join(dir, 'gone', 'krb5bridge.so')} node=${helper} helper=${join(dir, 'nope.mjs')}\n`);
    chmodSync(helper, 0o644);
    const f = plugstackCheck(slurmConf, '');
    expect(f.status).toBe('fail');
    expect(f.detail).toBe(`${dir}/plugstack.conf: the plugin ${join(dir, 'gone', 'krb5bridge.so')} is missing or unreadable; node=${helper} is not executable; helper=${join(dir, 'nope.mjs')} is missing or unreadable`);
  });
});
