/**
 * The man pages (man/*.pod, built by the Debian package with pod2man) document every config key of
 * helper/src/config/config.ts, every verb of helper/src/cli/index.ts and every plugstack argument of
 * spank/config.c; the package's default configuration names every key; podchecker accepts them.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { commands } from '../../helper/src/cli/index';
import { CONFIG_KEYS } from '../../helper/src/config/config';

const REPO = join(__dirname, '..', '..');
const read = (f: string): string => readFileSync(join(REPO, f), 'utf8');
const verbs = commands.map((c) => String(c.command).split(' ')[0]!);
const pluginArgs = [...read('spank/config.c').matchAll(/^\s+\{ "([a-z0-9_]+)", K_/gm)].map((m) => m[1]!);

test('the lists compared are the real ones', () => {
  expect(CONFIG_KEYS.length).toBeGreaterThan(25);
  expect(verbs).toEqual(expect.arrayContaining(['push', 'serve', 'keeper', 'doctor', 'config']));
  expect(pluginArgs).toEqual(expect.arrayContaining(['mode', 'policy', 'node', 'helper', 'keeper_socket', 'krb5_config']));
});

test.each(CONFIG_KEYS)('config key %s is in krb5bridge.conf(5) and the default krb5bridge.conf', (key) => {
  expect(read('man/krb5bridge.conf.5.pod')).toMatch(new RegExp(`^=item B<${key}> = `, 'm'));
  expect(read('debian/krb5bridge.conf')).toMatch(new RegExp(`^# ${key} = `, 'm'));
});

test.each(verbs)('verb %s is in krb5bridge(8)', (verb) => {
  expect(read('man/krb5bridge.8.pod')).toMatch(new RegExp(`^=item B<${verb}[> ]`, 'm'));
});

test.each(pluginArgs)('plugstack argument %s is in krb5bridge.so(8)', (arg) => {
  expect(read('man/krb5bridge.so.8.pod')).toMatch(new RegExp(`B<${arg}=>`));
});

test('podchecker accepts every page', () => {
  for (const page of ['krb5bridge.8', 'krb5bridge.conf.5', 'krb5bridge.so.8']) {
    const r = spawnSync('podchecker', [join(REPO, 'man', `${page}.pod`)], { encoding: 'utf8' });
    expect(r.stderr.trim()).toBe(`${join(REPO, 'man', `${page}.pod`)} pod syntax OK.`);
    expect(r.status).toBe(0);
  }
});
