/**
 * `krb5bridge doctor` on the real cluster, as root with the cluster's config: a healthy compute
 * node and store host print only passing lines and exit 0; each planted fault (store down, munge
 * socket wrong, host keytab mode 0644, an unsafe keeper socket, the KDC's clock an hour ahead,
 * the plugstack line missing) fails its own line with a remedy, and doctor exits 2. The KDC's
 * clock is skewed without touching the machine's: the real krb5kdc is restarted with a small
 * LD_PRELOAD library (built here) that adds an hour to the time it reads.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, clusterForFile, pidAlive, waitFor } from '../lib/cluster';

const cluster = clusterForFile();
let c: Cluster;
let scratch: string;

interface Run {
  code: number;
  lines: string[];
  failed: string[];
}

function doctor(...args: string[]): Run {
  const r = c.root([...c.helper, 'doctor', ...args], { timeoutMs: 60_000 });
  const lines = r.stdout.trim().split('\n');
  return { code: r.code, lines, failed: lines.filter((l) => l.startsWith('fail')).map((l) => /^fail +([^:]+):/.exec(l)![1]!) };
}

const line = (r: Run, check: string): string => r.lines.find((l) => new RegExp(`^\\w+ +${check.replace('.', '\\.')}:`).test(l)) ?? `(no ${check} line in:\n${r.lines.join('\n')})`;

beforeAll(() => {
  c = cluster.get();
  scratch = mkdtempSync('/tmp/krb5bridge-doctor-');
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

test('a healthy compute node and store host: only passing lines, exit 0', () => {
  for (const roles of [['--role', 'compute'], ['--role', 'store'], ['--role', 'login']]) {
    const r = doctor(...roles);
    expect(r.lines.filter((l) => !/^ok {4}/.test(l))).toEqual([]);
    expect(r.code).toBe(0);
  }
  const all = doctor('--role', 'compute', '--role', 'store');
  const checks = all.lines.map((l) => /^ok +([^:]+):/.exec(l)?.[1]);
  expect(checks).toEqual(['config', 'node', 'krb5.conf', 'clock', 'host-keytab', 'munge', 'store', 'slurm', 'plugstack', 'keeper-socket', 'ccache-dir', 'protected-regular', 'node-state', 'store-state', 'key-file', 'store-keytab']);
  const json = JSON.parse(c.root([...c.helper, 'doctor', '--role', 'compute', '--json']).stdout) as { status: number; findings: { status: string }[] };
  expect(json.status).toBe(0);
  expect(json.findings.every((f) => f.status === 'ok')).toBe(true);
});

test('store down: the store line fails and says to start it', () => {
  c.storeStop();
  try {
    const r = doctor('--role', 'compute');
    expect(r.failed).toEqual(['store']);
    expect(line(r, 'store')).toMatch(new RegExp(`^fail  store: the store at ${c.store} does not answer: cannot connect to ${c.store}: ECONNREFUSED => start the store \\(systemctl start krb5bridge-store`));
    expect(r.code).toBe(2);
  } finally {
    c.storeStart();
  }
});

test('munge socket wrong: the munge line fails (and the store, reached through munge)', () => {
  const r = doctor('--role', 'compute', '--munge-socket', join(scratch, 'no-munged.socket'));
  expect(r.failed).toEqual(['munge', 'store']);
  expect(line(r, 'munge')).toMatch(new RegExp(`^fail  munge: encode/decode on ${scratch}/no-munged.socket failed: .+ => start munged`));
  expect(r.code).toBe(2);
});

test('host keytab mode 0644: the host-keytab line fails with the chmod to run', () => {
  const kt = c.env.TC_HOST_KEYTAB!;
  chmodSync(kt, 0o644);
  try {
    const r = doctor('--role', 'compute');
    expect(r.failed).toEqual(['host-keytab']);
    expect(line(r, 'host-keytab')).toBe(`fail  host-keytab: client keytab ${kt} has mode 0644: group or others may access it; run chmod 600 ${kt} => chown root:root ${kt} && chmod 600 ${kt}`);
    expect(line(r, 'clock')).toMatch(/^skip {2}clock: /);
    expect(r.code).toBe(2);
  } finally {
    chmodSync(kt, 0o600);
  }
});

test('an unsafe keeper socket: the keeper-socket line fails; the plugin would not use it either', () => {
  const sock = join(c.nodeState, 'keeper.sock');
  chmodSync(sock, 0o666);
  try {
    const r = doctor('--role', 'compute');
    expect(r.failed).toEqual(['keeper-socket']);
    expect(line(r, 'keeper-socket')).toMatch(new RegExp(`^fail  keeper-socket: ${sock} has mode 0666: others may connect; the plugin will not use it => chmod 600 ${sock}, or stop whatever made it`));
    expect(r.code).toBe(2);
  } finally {
    chmodSync(sock, 0o600);
  }
});

test('the plugstack line missing: the plugstack line fails with the line to add', () => {
  c.plugstack({ off: true });
  try {
    const r = doctor('--role', 'compute');
    expect(r.failed).toEqual(['plugstack']);
    expect(line(r, 'plugstack')).toBe(
      `fail  plugstack: no krb5bridge.so line in ${c.dir}/plugstack.conf: jobs get no Kerberos credentials => add: required /usr/lib/x86_64-linux-gnu/slurm-wlm/krb5bridge.so node=/usr/bin/node helper=/usr/lib/krb5bridge/krb5bridge.cjs config=/etc/krb5bridge/krb5bridge.conf`,
    );
    expect(r.code).toBe(2);
  } finally {
    c.plugstack();
  }
});

/** Stop the cluster's KDC and start krb5kdc again as testcluster does, with extra environment. */
async function restartKdc(env: Record<string, string>): Promise<void> {
  const pidFile = join(c.dir, 'pid', 'kdc.pid');
  const old = Number(readFileSync(pidFile, 'utf8'));
  process.kill(old, 'SIGTERM');
  await waitFor(() => !pidAlive(old), 10_000, 'the KDC to stop');
  const log = openSync(join(c.dir, 'log', 'kdc.out'), 'a');
  const child = spawn('krb5kdc', ['-n', '-r', c.realm, '-P', join(c.dir, 'run', 'krb5kdc.pid')], {
    detached: true,
    stdio: ['ignore', log, log],
    // TC_DIR lets testcluster down recognise (and stop) it as this cluster's KDC.
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', TC_DIR: c.dir, KRB5_CONFIG: c.krb5Config, KRB5_KDC_PROFILE: c.env.KRB5_KDC_PROFILE!, ...env },
  });
  child.unref();
  writeFileSync(pidFile, `${child.pid}\n`);
  await waitFor(() => c.root(['kinit', '-k', '-t', c.env.TC_HOST_KEYTAB!, '-c', 'MEMORY:x', `host/localhost@${c.realm}`]).code === 0, 10_000, 'the KDC to answer');
}

test('the KDC clock an hour ahead: the clock line fails with the offset', async () => {
  const src = join(scratch, 'skew.c');
  const lib = join(scratch, 'skew.so');
  writeFileSync(
    src,
    `#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
static long skew(void) { const char *s = getenv("KB_TEST_SKEW"); return s ? atol(s) : 0; }
int clock_gettime(clockid_t id, struct timespec *ts) {
  static int (*real)(clockid_t, struct timespec *);
  if (!real) real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
  int r = real(id, ts);
  if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) ts->tv_sec += skew();
  return r;
}
int gettimeofday(struct timeval *tv, void *tz) {
  static int (*real)(struct timeval *, void *);
  if (!real) real = (int (*)(struct timeval *, void *))dlsym(RTLD_NEXT, "gettimeofday");
  int r = real(tv, tz);
  if (r == 0 && tv) tv->tv_sec += skew();
  return r;
}
time_t time(time_t *t) { struct timespec ts; clock_gettime(CLOCK_REALTIME, &ts); if (t) *t = ts.tv_sec; return ts.tv_sec; }
`,
  );
  const cc = spawnSync('gcc', ['-shared', '-fPIC', '-O2', '-o', lib, src, '-ldl'], { encoding: 'utf8' });
  expect(cc.stderr).toBe('');
  await restartKdc({ LD_PRELOAD: lib, KB_TEST_SKEW: '3600' });
  try {
    const r = doctor('--role', 'compute');
    expect(r.failed).toEqual(['clock']);
    expect(line(r, 'clock')).toMatch(/^fail {2}clock: offset to the KDC \+(3599|3600|3601) s \(KDC minus this host; \d+ ms exchange; tolerance 300 s\): beyond the tolerance, Kerberos refuses this host's requests => synchronise the clocks with NTP/);
    expect(r.code).toBe(2);
  } finally {
    await restartKdc({});
  }
  // The control: the same KDC without the skew passes.
  expect(line(doctor('--role', 'compute'), 'clock')).toMatch(/^ok {4}clock: offset to the KDC [+-]?[01] s/);
}, 60_000);
