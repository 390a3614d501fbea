/**
 * Push at login (docs/site.md): pamtester opens a session through a PAM service whose session
 * stack is the documented recipe (pam_exec running the installed krb5bridge-pam-push, optional),
 * for the cluster's users. After the "login" the store holds the user's ticket; a user with no
 * ticket still logs in; hostile PAM environment never reaches Node and root is never pushed.
 * PAM reads services only from /etc/pam.d: the test writes one there under a random name and
 * removes it after.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, User, clusterForFile } from '../lib/cluster';

const cluster = clusterForFile();
let c: Cluster;
let alice: User;
let carol: User;
let scratch: string;
const service = `krb5bridge-test-${process.pid}-${Date.now()}`;
const serviceFile = join('/etc/pam.d', service);

function pamtester(user: string, env: Record<string, string> = {}): { code: number; out: string } {
  const e = Object.entries(env).flatMap(([k, v]) => ['-E', `${k}=${v}`]);
  const r = spawnSync('pamtester', ['-v', ...e, service, user, 'open_session', 'close_session'], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? 128, out: `${r.stdout}${r.stderr}` };
}

const stored = (u: User): boolean => c.root([...c.helper, 'show', '--uid', String(u.uid)]).code === 0;

beforeAll(() => {
  c = cluster.get();
  alice = c.adduser('pamalice');
  carol = c.adduser('pamcarol');
  scratch = mkdtempSync('/tmp/krb5bridge-pam-');
  const hook = join(c.dir, 'install', 'lib', 'krb5bridge', 'krb5bridge-pam-push');
  // The recipe, with the cluster's config (a site's is /etc/krb5bridge/krb5bridge.conf: no argument).
  writeFileSync(serviceFile, ['auth required pam_permit.so', 'account required pam_permit.so', `session optional pam_exec.so quiet ${hook} --config ${c.bridgeConfig}`, ''].join('\n'), { mode: 0o644 });
});
afterAll(() => {
  rmSync(serviceFile, { force: true });
  rmSync(scratch, { recursive: true, force: true });
});

test('after the session opens, the store holds the ticket of the user who logged in', () => {
  c.kinit(alice.name);
  expect(stored(alice)).toBe(false);
  const r = pamtester(alice.name, { KRB5CCNAME: alice.ccache, KRB5_CONFIG: c.krb5Config });
  expect(r.out).toContain('successfully opened a session');
  expect(r.code).toBe(0);
  const show = JSON.parse(c.root([...c.helper, 'show', '--uid', String(alice.uid), '--json']).stdout) as { uid: number; principal: string };
  expect(show).toMatchObject({ uid: alice.uid, principal: `${alice.name}@${c.realm}` });
});

test('a user with no ticket still logs in, and nothing is stored', () => {
  const r = pamtester(carol.name, { KRB5CCNAME: carol.ccache, KRB5_CONFIG: c.krb5Config });
  expect(r.out).toContain('successfully opened a session');
  expect(r.code).toBe(0);
  expect(stored(carol)).toBe(false);
});

test('the store being down does not fail or hang the login', () => {
  c.storeStop();
  try {
    const t0 = Date.now();
    const r = pamtester(alice.name, { KRB5CCNAME: alice.ccache, KRB5_CONFIG: c.krb5Config });
    expect(r.out).toContain('successfully opened a session');
    expect(r.code).toBe(0);
    // Bounded by the config's timeout (5 s here) and the hook's own 20 s limit; generous for a loaded machine.
    expect(Date.now() - t0).toBeLessThan(40_000);
  } finally {
    c.storeStart();
  }
});

test('hostile PAM environment never reaches Node, and root is never pushed', () => {
  const mark = join(scratch, 'evil-ran');
  const evil = join(scratch, 'evil.js');
  writeFileSync(evil, `require('fs').writeFileSync(${JSON.stringify(mark)}, String(process.getuid()));\n`, { mode: 0o644 });
  const r = pamtester(alice.name, { KRB5CCNAME: alice.ccache, KRB5_CONFIG: c.krb5Config, NODE_OPTIONS: `--require ${evil}`, LD_PRELOAD: join(scratch, 'none.so') });
  expect(r.code).toBe(0);
  expect(existsSync(mark)).toBe(false);
  // The positive control: the same file does run when NODE_OPTIONS reaches node.
  spawnSync(c.helper[0]!, ['-e', '0'], { env: { NODE_OPTIONS: `--require ${evil}` } });
  expect(existsSync(mark)).toBe(true);
  rmSync(mark);
  // root's session: the hook does nothing (the store refuses uid 0 anyway; it is never asked).
  const before = c.root(['grep', '-c', 'op=push uid=0', join(c.dir, 'log', 'store.log')]).stdout.trim();
  expect(pamtester('root', { KRB5CCNAME: alice.ccache }).code).toBe(0);
  expect(c.root(['grep', '-c', 'op=push uid=0', join(c.dir, 'log', 'store.log')]).stdout.trim()).toBe(before);
});
