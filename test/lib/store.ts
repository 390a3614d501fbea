/**
 * Real parts for the store/munge/client tests: a throwaway KDC + munged (scripts/testcluster
 * --only kdc,munge), users with tickets, and a bundled client runner to act as a non-root user.
 * Nothing here fakes munge or Kerberos.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { buildSync } from 'esbuild';
import { setNativeEnv } from './kdc';

import { REPO, TESTCLUSTER } from './cluster';

export { REPO, TESTCLUSTER };

export interface Cluster {
  dir: string;
  realm: string;
  mungeSocket: string;
  krb5Config: string;
  /**
   * The helper bundle testcluster installed into DIR/install (TC_HELPER), and the node_modules beside
   * it (koffi): what test users run, readable by them even when the checkout is in a 0700 directory.
   */
  helper: string;
  nodeModules: string;
  /** With `etcd: M`: the members' client URLs (etcd_endpoints). */
  etcdEndpoints?: string | undefined;
}

/** `etcd: M`: also an etcd cluster of M members on loopback (Cluster.etcdEndpoints). */
export function clusterUp(opts: { etcd?: number } = {}): Cluster {
  const base = mkdtempSync('/tmp/krb5bridge-storetest-');
  chmodSync(base, 0o755);
  const etcd = opts.etcd ? ['--etcd', String(opts.etcd)] : [];
  const dir = execFileSync(TESTCLUSTER, ['up', '--only', 'kdc,munge', ...etcd, '--dir', base], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  const env: Record<string, string> = {};
  for (const line of readFileSync(join(dir, 'env'), 'utf8').split('\n')) {
    const m = /^export (\w+)=(.*)$/.exec(line);
    // printf %q quoting: a backslash before a character (a comma in a list) keeps it literal.
    if (m) env[m[1]!] = m[2]!.replace(/\\(.)/g, "$1");
  }
  // The store under test runs in this process: libkrb5 must see the test realm.
  setNativeEnv('KRB5_CONFIG', env.KRB5_CONFIG!);
  const helper = env.TC_HELPER!;
  return { dir, realm: env.TC_REALM!, mungeSocket: env.TC_MUNGE_SOCKET!, krb5Config: env.KRB5_CONFIG!, helper, nodeModules: join(dirname(helper), 'node_modules'), etcdEndpoints: env.TC_ETCD_ENDPOINTS || undefined };
}

/** Stop or kill etcd member N (testcluster etcd-stop), or start it again with its data (etcd-start). */
export function etcdMember(c: Cluster, action: 'stop' | 'kill' | 'start', member: number): void {
  const args = action === 'start' ? ['etcd-start'] : ['etcd-stop', '--signal', action === 'kill' ? 'KILL' : 'TERM'];
  execFileSync(TESTCLUSTER, [...args, '--member', String(member), '--dir', c.dir], { stdio: 'ignore', timeout: 60_000 });
}

export function clusterDown(c: Cluster | undefined): void {
  if (c) spawnSync(TESTCLUSTER, ['down', '--dir', c.dir, '--rm'], { stdio: 'ignore' });
}

/** A unix user (uid >= 1000) with a principal of the same name and a fresh TGT; returns the uid. */
export function userWithTicket(c: Cluster, name: string): number {
  execFileSync(TESTCLUSTER, ['adduser', name, '--dir', c.dir], { stdio: 'ignore' });
  execFileSync(TESTCLUSTER, ['kinit', name, '--dir', c.dir], { stdio: 'ignore' });
  return Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
}

export function ccacheOf(c: Cluster, name: string): string {
  return `FILE:${join(c.dir, 'users', name, 'ccache')}`;
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Run a program without blocking this process (the store under test may run in it). */
export function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', env: env ?? process.env, timeout: 30_000 }, (err, stdout, stderr) => {
      const status = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}

/** Run the installed helper as `user` (testcluster `as`: clean environment, the user's ccache). */
export function helperAs(c: Cluster, user: string, args: string[]): Promise<RunResult> {
  return run(TESTCLUSTER, ['as', user, '--dir', c.dir, '--', process.execPath, c.helper, ...args]);
}

/** Run the installed helper as root with the test realm's krb5.conf. */
export function helperAsRoot(c: Cluster, args: string[]): Promise<RunResult> {
  return run(process.execPath, [c.helper, ...args], { PATH: '/usr/bin:/bin', KRB5_CONFIG: c.krb5Config });
}

/**
 * A small program that calls one client function (fetchCreds, ...) and prints the result or
 * the error code as JSON: lets a test act as any user through the real client code.
 */
export function bundleClientRunner(dir: string): string {
  const out = join(dir, 'client-runner.cjs');
  buildSync({
    stdin: {
      contents: `
        const client = require('./helper/src/client/client');
        const { defaultConfig } = require('./helper/src/config/config');
        const { readTgts } = require('./helper/src/krb5');
        const [fn, store, socket, arg] = process.argv.slice(2);
        const config = { ...defaultConfig(), store, munge_socket: socket, timeout: 5 };
        // pushLoop: push the default ccache's TGT again and again, one line per acknowledged push.
        async function pushLoop() {
          const bundle = readTgts();
          let n = 0;
          for (;;) {
            await client.pushCreds(config, bundle.krbcred, { force: true });
            process.stdout.write('ack ' + ++n + '\\n');
          }
        }
        (fn === 'pushLoop' ? pushLoop() : client[fn](config, arg === undefined ? undefined : Number(arg))).then(
          (r) => { console.log(JSON.stringify({ ok: true, result: r.krbcred ? { principal: r.principal } : r })); },
          (e) => { console.log(JSON.stringify({ ok: false, code: e.code, message: e.message })); },
        );`,
      resolveDir: REPO,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    external: ['koffi'],
    outfile: out,
    logLevel: 'warning',
  });
  chmodSync(out, 0o644);
  return out;
}

/**
 * The environment of the client runner (bundled into the cluster directory, readable by test users):
 * koffi comes from the node_modules installed beside the helper, not the checkout's.
 */
export function runnerEnv(c: Cluster, extra: string[] = []): string[] {
  return ['env', '-i', 'PATH=/usr/bin:/bin', `NODE_PATH=${c.nodeModules}`, ...extra];
}

/** Run the client runner as `user` (root: 'root'). */
export async function clientAs(c: Cluster, user: string, runner: string, args: string[]): Promise<{ ok: boolean; code?: string; message?: string; result?: unknown }> {
  const env = runnerEnv(c);
  const cmd = user === 'root' ? [...env, process.execPath, runner, ...args] : ['runuser', '-u', user, '--', ...env, process.execPath, runner, ...args];
  const r = await run(cmd[0]!, cmd.slice(1));
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`client runner as ${user} printed ${JSON.stringify(r.stdout)}; stderr ${r.stderr}`);
  }
}
