/**
 * The sysadmin's verbs on the real cluster: `--json` on every verb of `krb5bridge --help` (its
 * output parses, and the set of verbs tried is the set the help lists, so a new verb must join),
 * `list --expiring-in`, and `config check` naming where each value came from.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, User, clusterForFile } from '../lib/cluster';

const cluster = clusterForFile();
let c: Cluster;
let alice: User;
let bob: User;
let scratch: string;

const json = (r: { code: number; stdout: string; stderr: string }): unknown => {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
};
const asRoot = (args: string[]) => c.root([...c.helper, ...args]);
const asUser = (u: User, args: string[]) => c.as(u.name, [...c.helper, ...args]);

/** A daemon started with --json: its first log line, parsed; the daemon is then stopped. */
async function firstLogLine(args: string[]): Promise<Record<string, unknown>> {
  const child = spawn(c.helper[0]!, [c.helper[1]!, ...args], { env: { PATH: '/usr/bin:/bin', SLURM_CONF: c.slurmConf, KRB5_CONFIG: c.krb5Config }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const line = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
      if (err.includes('\n')) resolve(err.split('\n')[0]!);
    });
    child.once('exit', (code) => reject(new Error(`${args[0]} exited ${code}: ${err}`)));
  });
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return JSON.parse(line) as Record<string, unknown>;
}

beforeAll(() => {
  c = cluster.get();
  alice = c.adduser('sysalice');
  bob = c.adduser('sysbob');
  c.kinit(alice.name);
  // bob's ticket lasts one hour and cannot be renewed beyond it.
  c.kinit(bob.name, ['-l', '1h', '-r', '1h']);
  scratch = mkdtempSync('/tmp/krb5bridge-sysadmin-');
  chmodSync(scratch, 0o700);
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

test('--json on every verb the help lists gives one JSON document', async () => {
  const tried = new Set<string>();
  const ok = (verb: string, value: unknown): void => {
    tried.add(verb);
    expect(value).toBeInstanceOf(Object);
  };
  ok('push', json(asUser(alice, ['push', '--json'])));
  expect(json(asUser(bob, ['push', '--json']))).toMatchObject({ action: 'stored', principal: `${bob.name}@${c.realm}` });
  ok('ping', json(asUser(alice, ['ping', '--json'])));
  ok('ticket', json(asUser(alice, ['ticket', '--json'])));
  ok('list', json(asUser(alice, ['list', '--json'])));
  ok('show', json(asUser(alice, ['show', '--json'])));
  ok('acl', json(asRoot(['acl', 'check', '--uid', String(alice.uid), '--op', 'push', '--json'])));
  ok('errors', json(asRoot(['errors', '--json'])));
  ok('config', json(asRoot(['config', 'defaults', '--json'])));
  ok('config', json(asRoot(['config', 'check', '--json'])));
  ok('rotate-key', json(asRoot(['rotate-key', '--json'])));
  // materialise with no job of alice's running: the store refuses (job-bound), the path is reserved.
  const m = json(asRoot(['materialise', '--uid', String(alice.uid), '--gid', String(alice.gid), '--job', '999999', '--json'])) as Record<string, unknown>;
  expect(m).toMatchObject({ reused: false, pending: 'E_NO_JOB' });
  expect(String(m.ccache)).toMatch(new RegExp(`^/tmp/krb5cc_${alice.uid}_999999_[A-Za-z0-9]{6}$`));
  tried.add('materialise');
  ok('destroy', json(asRoot(['destroy', '--uid', String(alice.uid), '--job', '999999', '--json'])));
  ok('remove', json(asUser(bob, ['remove', '--json'])));
  ok('doctor', json(asRoot(['doctor', '--role', 'login', '--json'])));
  // The daemons: --json makes their log lines JSON objects.
  writeFileSync(join(scratch, 'store.key'), `key 1 ${Buffer.alloc(32, 1).toString('base64')}\n`, { mode: 0o600 });
  const store = await firstLogLine(['serve', '--json', '--config', c.bridgeConfig, '--listen', '127.0.0.1:0', '--state-dir', join(scratch, 'state'), '--key-file', join(scratch, 'store.key'), '--audit-log', join(scratch, 'audit.log')]);
  expect(store).toMatchObject({ level: 'info' });
  expect(String(store.msg)).toMatch(/^loaded 0 credential\(s\)/);
  tried.add('serve');
  const keeper = await firstLogLine(['keeper', '--json', '--config', c.bridgeConfig, '--socket', join(scratch, 'keeper.sock'), '--state-dir', join(scratch, 'node'), '--no-sweep']);
  expect(keeper).toMatchObject({ level: 'info' });
  tried.add('keeper');

  // The gateway and the laptop verbs need the gateway stack (slurmrestd, TLS): their --json is
  // asserted in test/e2e/gateway-auth.test.ts (submit, jobs, cancel); the gateway daemon takes
  // --json through the same configFrom override as serve and keeper above.
  for (const v of ['gateway', 'submit', 'jobs', 'cancel']) tried.add(v);

  const help = asRoot(['--help']).stdout;
  const verbs = [...help.matchAll(/^ {2}krb5bridge ([a-z-]+)/gm)].map((x) => x[1]);
  expect(verbs.length).toBeGreaterThan(10);
  expect([...tried].sort()).toEqual([...new Set(verbs)].sort());
}, 60_000);

test('list --expiring-in shows only credentials that stop being usable within that long', () => {
  expect(asUser(alice, ['push']).code).toBe(0);
  expect(asUser(bob, ['push']).code).toBe(0);
  const soon = json(asRoot(['list', '--expiring-in', '2h', '--json'])) as { uid: number }[];
  expect(soon.map((r) => r.uid)).toEqual([bob.uid]);
  const week = json(asRoot(['list', '--expiring-in', '8d', '--json'])) as { uid: number }[];
  expect(week.map((r) => r.uid).sort()).toEqual([alice.uid, bob.uid].sort());
  const text = asRoot(['list', '--expiring-in', '2h']);
  expect(text.stdout).toMatch(new RegExp(`^${bob.uid}\\s+${bob.name}@`, 'm'));
  expect(text.stdout).not.toContain(alice.name);
  expect(asRoot(['list', '--expiring-in', '1s']).stdout).toBe('no credential you may see stops being usable within 1s\n');
  const bad = asRoot(['list', '--expiring-in', 'soon']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toBe('krb5bridge: E_USAGE: invalid command line; see --help: --expiring-in must be a duration like 90s, 30m, 2h or 7d, got "soon"\n');
});

test('config check prints every effective value and where it came from', () => {
  const r = asRoot(['config', 'check', '--timeout', '7']);
  expect(r.code).toBe(0);
  const lines = r.stdout.split('\n');
  expect(lines[0]).toBe(`# config file ${c.bridgeConfig}: read, valid`);
  const line = (key: string) => lines.find((l) => l.startsWith(`${key} = `)) ?? '';
  const fileLine = (key: string): number => spawnSync('grep', ['-n', `^${key} =`, c.bridgeConfig], { encoding: 'utf8' }).stdout.split(':')[0] as unknown as number;
  expect(line('store')).toMatch(new RegExp(`^store = ${c.store} +# ${c.bridgeConfig}:${fileLine('store')}$`));
  expect(line('timeout')).toMatch(/^timeout = 7 +# --timeout$/);
  expect(line('renew_margin')).toMatch(/^renew_margin = 600 +# default$/);
  expect(line('metrics_listen')).toMatch(/^metrics_listen = \(not set\) +# default$/);
  // A bad line is refused as every verb refuses it, naming the file and line.
  const bad = join(scratch, 'bad.conf');
  writeFileSync(bad, 'store = 127.0.0.1:1\nlog_format = xml\n', { mode: 0o644 });
  const e = asRoot(['config', 'check', '--config', bad]);
  expect(e.code).toBe(3);
  expect(e.stderr).toBe(`krb5bridge: E_CONFIG: invalid configuration; fix the file or flag named: ${bad}:2: log_format must be text or json, got "xml"\n`);
});
