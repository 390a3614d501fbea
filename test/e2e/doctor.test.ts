/**
 * `krb5bridge doctor` on the real cluster, as root with the cluster's config: a healthy compute
 * node and store host print only passing lines and exit 0; each planted fault (store down, munge
 * socket wrong, host keytab mode 0644, an unsafe keeper socket, the KDC's clock an hour ahead,
 * the plugstack line missing; on the gateway host its TLS key mode 0644 or not the certificate's,
 * its keytab missing or holding another principal, slurmrestd stopped) fails its own line with a
 * remedy, and doctor exits 2. The KDC's clock is skewed without touching the machine's: the real
 * krb5kdc is restarted with a small LD_PRELOAD library (built here) that adds an hour to the time
 * it reads.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, clusterForFile, pidAlive, waitFor } from '../lib/cluster';

// --gateway: slurmrestd and the gateway too, for the gateway host's checks (its own config, DIR/gateway.conf).
const cluster = clusterForFile({ gateway: true });
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

/** doctor on the gateway host: the gateway's own config file. */
const gateway = (): Run => doctor('--role', 'gateway', '--config', c.gateway!.config);

test('a healthy gateway host: only passing lines, exit 0', () => {
  const r = gateway();
  expect(r.lines.filter((l) => !/^ok {4}/.test(l))).toEqual([]);
  expect(r.lines.map((l) => /^ok +([^:]+):/.exec(l)?.[1])).toEqual(['config', 'node', 'krb5.conf', 'clock', 'store', 'slurm', 'gateway-cert', 'gateway-key', 'gateway-keytab', 'jwt-key', 'slurmrestd']);
  expect(line(r, 'gateway-key')).toBe(`ok    gateway-key: ${c.dir}/gateway/server.key is root's alone (ec key) and matches the certificate`);
  expect(line(r, 'slurmrestd')).toMatch(new RegExp(`^ok {4}slurmrestd: slurmrestd at ${c.gateway!.slurmrestd} accepted a token of jwt_key; slurmctld \\S+ UP \\(primary\\)$`));
  expect(r.code).toBe(0);
});

test('gateway TLS key mode 0644: the gateway-key line fails with the chmod to run', () => {
  const key = join(c.dir, 'gateway', 'server.key');
  chmodSync(key, 0o644);
  try {
    const r = gateway();
    expect(r.failed).toEqual(['gateway-key']);
    expect(line(r, 'gateway-key')).toBe(`fail  gateway-key: gateway TLS key ${key} has mode 0644: group or others may access it; chmod 0600 ${key} => chown root:root ${key} && chmod 0600 ${key}`);
    expect(r.code).toBe(2);
  } finally {
    chmodSync(key, 0o600);
  }
});

test("a TLS key that is not the certificate's: the gateway-key line fails", () => {
  const key = join(c.dir, 'gateway', 'server.key');
  const saved = readFileSync(key);
  const other = join(scratch, 'other.key');
  expect(spawnSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', other]).status).toBe(0);
  writeFileSync(key, readFileSync(other));
  try {
    const r = gateway();
    expect(r.failed).toEqual(['gateway-key']);
    expect(line(r, 'gateway-key')).toBe(`fail  gateway-key: ${key} is not the key of the certificate ${c.dir}/gateway/server.crt => install the key the certificate was issued for, or a certificate for this key`);
    expect(r.code).toBe(2);
  } finally {
    writeFileSync(key, saved);
  }
});

test('the gateway keytab missing, then holding another principal: the gateway-keytab line fails with the ktadd to run', () => {
  const kt = join(c.dir, 'kdc', 'gateway.keytab');
  const saved = join(scratch, 'gateway.keytab');
  const principal = `HTTP/localhost@${c.realm}`;
  const ktadd = `=> extract a fresh key (kadmin: ktadd -k ${kt} ${principal}) and check the principal exists in the KDC`;
  renameSync(kt, saved);
  try {
    const r = gateway();
    expect(r.failed).toEqual(['gateway-keytab']);
    expect(line(r, 'gateway-keytab')).toBe(`fail  gateway-keytab: ${kt} cannot be used for ${principal}: cannot open the client keytab ${kt}: it does not exist ${ktadd}`);
    expect(r.code).toBe(2);
    // The host's keytab in its place: a keytab, root's, but without the gateway's principal.
    copyFileSync(c.env.TC_HOST_KEYTAB!, kt);
    chmodSync(kt, 0o600);
    const w = gateway();
    expect(w.failed).toEqual(['gateway-keytab']);
    expect(line(w, 'gateway-keytab')).toMatch(new RegExp(`^fail  gateway-keytab: ${kt} cannot be used for ${principal}: client keytab ${kt} holds no key for ${principal}: .* ${ktadd.replace(/[()]/g, '\\$&')}$`));
    expect(w.code).toBe(2);
  } finally {
    renameSync(saved, kt);
  }
  expect(gateway().code).toBe(0);
});

test('slurmrestd stopped: the slurmrestd line fails and says to start it', () => {
  c.stop('slurmrestd');
  try {
    const r = gateway();
    expect(r.failed).toEqual(['slurmrestd']);
    expect(line(r, 'slurmrestd')).toBe(
      `fail  slurmrestd: cannot reach slurmrestd at ${c.gateway!.slurmrestd}: ECONNREFUSED => start slurmrestd (systemctl start slurmrestd; as an unprivileged user, -a rest_auth/jwt) and check slurmrestd = ${c.gateway!.slurmrestd} in the config`,
    );
    expect(r.code).toBe(2);
  } finally {
    c.start('slurmrestd');
  }
  expect(line(gateway(), 'slurmrestd')).toMatch(/^ok {4}slurmrestd: /);
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
