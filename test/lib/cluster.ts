/**
 * Jest-side wrapper of scripts/testcluster: a real throwaway KDC + munged + Slurm + store.
 * Every call runs the script synchronously; failures throw with the script's stderr so a test
 * report shows what broke (which daemon, which log).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

export const REPO = path.resolve(__dirname, '..', '..');
export const TESTCLUSTER = path.join(REPO, 'scripts', 'testcluster');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Kill the command after this long (default 60 s); code is then 124. */
  timeoutMs?: number;
  /** Standard input for the command. */
  input?: string;
  /** Working directory (default: DIR/users/NAME for `as`). */
  cwd?: string;
}

export interface UpOptions {
  dir?: string;
  ticketLifetime?: string;
  renewLifetime?: string;
  /** false = empty plugstack (`--no-plugin`). Default true (warns and goes without if the .so is missing). */
  plugin?: boolean;
  /** false = no store (`--no-store`). Default true. */
  store?: boolean;
  /** false = no node keeper (`--no-keeper`): the plugin falls back to the helper. Default true. */
  keeper?: boolean;
  only?: 'kdc' | 'kdc,munge';
  pluginArgs?: string[];
  /** 2 = a second realm with its own KDC (`--realms 2`); its users: adduser(name, { realm: 2 }). */
  realms?: 1 | 2;
  /** true = slurm.conf's Prolog runs DIR/prolog.local (`--prolog`; Cluster.prolog() writes it). */
  prolog?: boolean;
  /** Lines of DIR/krb5bridge.conf, replacing the defaults (`--conf K=V`). */
  conf?: Record<string, string | number>;
  /** true = the store and keeper (and with `gateway`, the gateway) serve Prometheus metrics (`--metrics`; env TC_STORE_METRICS, TC_KEEPER_METRICS, TC_GATEWAY_METRICS). */
  metrics?: boolean;
  /** Run the plugin and helper a Debian package installed under this root (`--installed ROOT`), not copies of the checkout's. */
  installed?: string;
  /** true = also slurmrestd (JWT) and the HTTPS gateway (`--gateway`); Cluster.gateway then says where. */
  gateway?: boolean;
  /** `--nodes N`: N compute nodes node1..nodeN, each in namespaces of its own (scripts/testcluster-nodes.bash). */
  nodes?: number;
  /** `--etcd M`: the store on an etcd cluster of M members; `--stores K`: K stores sharing it. */
  etcd?: number;
  stores?: number;
  auth?: 'munge' | 'krb5';
}

/** Where the cluster's HTTPS gateway is (up --gateway). */
export interface GatewayInfo {
  /** https://localhost:PORT */
  url: string;
  /** PEM of the CA that signed its certificate. */
  ca: string;
  /** slurmrestd, HOST:PORT. */
  slurmrestd: string;
  /** The gateway's config file. */
  config: string;
}

/** The daemons a test may stop, start, pause and resume (scripts/testcluster stop NAME ...). */
export type Daemon = 'kdc' | 'kdc2' | 'munged' | 'slurmctld' | 'slurmd' | 'store' | 'keeper' | 'etcd' | 'slurmrestd' | 'gateway';

/** Which one of a daemon: NODE's keeper, slurmd or munged (`nodes: N`), store K (`stores: K`), etcd member N. */
export interface Which {
  node?: string;
  store?: number;
  member?: number;
}

function whichArgs(w: Which): string[] {
  return [
    ...(w.node ? ['--node', w.node] : []),
    ...(w.store !== undefined && w.store > 1 ? ['--store', String(w.store)] : []),
    ...(w.member !== undefined ? ['--member', String(w.member)] : []),
  ];
}

export interface User {
  name: string;
  uid: number;
  gid: number;
  keytab: string;
  /** The user's login-node ccache, FILE:DIR/users/NAME/ccache. */
  ccache: string;
  home: string;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function run(cmd: string, args: string[], opts: RunOptions & { env?: NodeJS.ProcessEnv } = {}): RunResult {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 60_000,
    input: opts.input ?? '',
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') throw r.error;
  const timedOut = r.signal === 'SIGTERM' && (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
  return { code: timedOut ? 124 : (r.status ?? 128), stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Run scripts/testcluster; throw (with its stderr) unless it exits 0. */
function tc(args: string[], opts: RunOptions = {}): RunResult {
  const r = run(TESTCLUSTER, args, opts);
  if (r.code !== 0) {
    throw new Error(`scripts/testcluster ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  }
  return r;
}

/** The variables DIR/env exports, as bash sees them after sourcing it. */
function readEnvFile(file: string): Record<string, string> {
  const keys = [...readFileSync(file, 'utf8').matchAll(/^export ([A-Z0-9_]+)=/gm)].map((m) => m[1] as string);
  const r = run('bash', ['-c', '. "$1" && for k in "${@:2}"; do printf "%s=%s\\0" "$k" "${!k}"; done', '_', file, ...keys]);
  if (r.code !== 0) throw new Error(`cannot source ${file}: ${r.stderr}`);
  const env: Record<string, string> = Object.create(null);
  for (const kv of r.stdout.split('\0')) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}

export class Cluster {
  readonly env: Record<string, string>;
  readonly realm: string;
  /** Store address HOST:PORT. */
  readonly store: string;
  readonly mungeSocket: string;
  readonly krb5Config: string;
  readonly slurmConf: string;
  readonly bridgeConfig: string;
  /** Compute-node state dir (job records) the plugin uses. */
  readonly nodeState: string;
  readonly storeState: string;
  readonly markerDir: string;
  /**
   * The helper as a command line (node and the bundle by absolute path), for tests that run verbs by
   * hand, as a user or as root: the copy `up` installed into DIR/install (TC_NODE, TC_HELPER), which
   * test users can read even when the checkout sits in a directory they cannot enter.
   */
  readonly helper: string[];
  /** The HTTPS gateway, when the cluster was brought up with it. */
  readonly gateway: GatewayInfo | undefined;
  private readonly users = new Map<string, User>();

  constructor(readonly dir: string) {
    this.env = readEnvFile(path.join(dir, 'env'));
    const need = (k: string): string => {
      const v = this.env[k];
      if (v === undefined) throw new Error(`${dir}/env has no ${k}`);
      return v;
    };
    this.realm = need('TC_REALM');
    this.store = need('TC_STORE');
    this.mungeSocket = need('TC_MUNGE_SOCKET');
    this.krb5Config = need('KRB5_CONFIG');
    this.slurmConf = need('SLURM_CONF');
    this.bridgeConfig = need('KRB5BRIDGE_CONFIG');
    this.nodeState = need('TC_NODE_STATE');
    this.storeState = need('TC_STORE_STATE');
    this.markerDir = need('TC_MARKER_DIR');
    this.helper = [need('TC_NODE'), need('TC_HELPER')];
    const url = this.env.KRB5BRIDGE_GATEWAY_URL;
    this.gateway = url ? { url, ca: need('KRB5BRIDGE_GATEWAY_CA'), slurmrestd: need('TC_SLURMRESTD'), config: need('TC_GATEWAY_CONF') } : undefined;
  }

  /** Compute nodes: ['localhost'] for the one-node cluster, ['node1', ..., 'nodeN'] with `nodes: N`. */
  get nodes(): string[] {
    const n = Number(this.env.TC_NODES ?? '1');
    return n > 1 ? Array.from({ length: n }, (_, i) => `node${i + 1}`) : ['localhost'];
  }

  /** Node NAME's own view of a path under its /tmp, /run, or job records, as root sees it from here. */
  nodePath(node: string, path: string): string {
    if (node === 'localhost') return path;
    const d = path.startsWith('/tmp/') ? 'tmp' : path.startsWith('/run/') ? 'run' : undefined;
    if (d) return `${this.dir}/nodes/${node}/${d}/${path.slice(d.length + 2)}`;
    if (path.startsWith(`${this.nodeState}/`)) return `${this.dir}/nodes/${node}/node/${path.slice(this.nodeState.length + 1)}`;
    return path;
  }

  /** Run cmd on NODE (as root, or `as` a user) with `testcluster on`; never throws on a non-zero exit. */
  on(node: string, cmd: string[], opts: RunOptions & { as?: string } = {}): RunResult {
    const extra = [...(opts.as ? ['--as', opts.as] : []), ...(opts.cwd !== undefined ? ['--cwd', opts.cwd] : [])];
    return run(TESTCLUSTER, ['on', node, '--dir', this.dir, ...extra, '--', ...cmd], { ...opts, cwd: undefined });
  }

  /** Stop (or kill) etcd member N; etcdStart(N) resumes it with its data. */
  etcdStop(member: number, signal: 'TERM' | 'KILL' = 'TERM'): void {
    this.stop('etcd', signal, { member });
  }

  etcdStart(member: number): void {
    this.start('etcd', { member });
  }

  /** Stop (or kill) the node keeper, or NODE's with `nodes: N`. */
  keeperStop(node?: string, signal: 'TERM' | 'KILL' = 'TERM'): void {
    this.stop('keeper', signal, { node });
  }

  keeperStart(node?: string): void {
    this.start('keeper', { node });
  }

  /** Give NAME@REALM a Kerberos password (the gateway's password login). */
  passwd(name: string, password: string): void {
    tc(['passwd', name, password, '--dir', this.dir]);
  }

  /** The second realm (`realms: 2`), else undefined. */
  get realm2(): string | undefined {
    return this.env.TC_REALM2 || undefined;
  }

  /** Create (idempotently) unix user + principal NAME@REALM (or @REALM2) + keytab. */
  adduser(name: string, opts: { realm?: 1 | 2 } = {}): User {
    tc(['adduser', name, '--dir', this.dir, ...(opts.realm === 2 ? ['--realm', '2'] : [])]);
    const id = (flag: string): number => Number(run('id', [flag, name]).stdout.trim());
    const home = run('getent', ['passwd', name]).stdout.split(':')[5] ?? '';
    const user: User = {
      name,
      uid: id('-u'),
      gid: id('-g'),
      keytab: path.join(this.dir, 'keytabs', `${name}.keytab`),
      ccache: `FILE:${path.join(this.dir, 'users', name, 'ccache')}`,
      home,
    };
    this.users.set(name, user);
    return user;
  }

  /** Run cmd as NAME with the cluster's clean user environment; never throws on a non-zero exit. */
  as(name: string, cmd: string[], opts: RunOptions = {}): RunResult {
    const cwd = opts.cwd !== undefined ? ['--cwd', opts.cwd] : [];
    return run(TESTCLUSTER, ['as', name, '--dir', this.dir, ...cwd, '--', ...cmd], { ...opts, cwd: undefined });
  }

  /**
   * `as`, without blocking the event loop (many users' commands side by side, or a poller that
   * must keep running); ms = how long it took. Killed after timeoutMs (default 120 s): code 137.
   */
  asAsync(name: string, cmd: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult & { ms: number }> {
    const t0 = Date.now();
    return new Promise((resolve) => {
      const p = spawn(TESTCLUSTER, ['as', name, '--dir', this.dir, '--', ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const t = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
      p.on('close', (code, signal) => {
        clearTimeout(t);
        resolve({ code: code ?? (signal === 'SIGKILL' ? 137 : 128), stdout, stderr, ms: Date.now() - t0 });
      });
    });
  }

  /** kinit from the user's keytab into its ccache (renewable); extra args go to kinit. */
  kinit(name: string, args: string[] = []): void {
    tc(['kinit', name, '--dir', this.dir, '--', ...args]);
  }

  /** Rewrite plugstack.conf: `off` = empty, else the plugin line plus extra K=V args. */
  plugstack(opts: { off?: boolean; pluginArgs?: string[] } = {}): void {
    const args = ['plugstack', '--dir', this.dir];
    if (opts.off) args.push('--off');
    for (const kv of opts.pluginArgs ?? []) args.push('--plugin-arg', kv);
    tc(args);
  }

  /** Stop (or kill) the store, or store K of `stores: K`. */
  storeStop(signal: 'TERM' | 'KILL' = 'TERM', store = 1): void {
    this.stop('store', signal, { store });
  }

  storeStart(store = 1): void {
    this.start('store', { store });
  }

  /** Stop one daemon: SIGNAL (default TERM), then KILL if it lingers. `which`: whose (multi-node, several stores, etcd). */
  stop(name: Daemon, signal: 'TERM' | 'KILL' = 'TERM', which: Which = {}): void {
    tc(['stop', name, '--dir', this.dir, '--signal', signal, ...whichArgs(which)]);
  }

  /** Start it again and wait until it answers (a no-op when it runs). */
  start(name: Daemon, which: Which = {}): void {
    tc(['start', name, '--dir', this.dir, ...whichArgs(which)], { timeoutMs: 90_000 });
  }

  /** SIGSTOP it: it keeps its sockets but answers nothing (a hung daemon). */
  pause(name: Daemon, which: Which = {}): void {
    tc(['pause', name, '--dir', this.dir, ...whichArgs(which)]);
  }

  /** SIGCONT a paused daemon. */
  resume(name: Daemon, which: Which = {}): void {
    tc(['resume', name, '--dir', this.dir, ...whichArgs(which)]);
  }

  /**
   * Put a Prolog (shell script body) in DIR/prolog.local: slurmd runs it as root at job start
   * (the cluster must be up with `prolog: true`),
   * with the cluster's DIR in $TC_DIR. undefined removes it.
   */
  prolog(body: string | undefined): void {
    const file = path.join(this.dir, 'prolog.local');
    if (body === undefined) {
      rmSync(file, { force: true });
      return;
    }
    writeFileSync(`${file}.tmp`, `#!/bin/sh\nTC_DIR=${this.dir}\n${body}\n`, { mode: 0o755 });
    renameSync(`${file}.tmp`, file);
  }

  /** Daemon name -> pid (undefined when stopped). */
  status(): Record<string, number | undefined> {
    const r = run(TESTCLUSTER, ['status', '--dir', this.dir]);
    const out: Record<string, number | undefined> = Object.create(null);
    for (const m of r.stdout.matchAll(/^(\S+) (?:running pid (\d+)|stopped)$/gm)) {
      out[m[1] as string] = m[2] === undefined ? undefined : Number(m[2]);
    }
    return out;
  }

  /** Run a command as root with the cluster's environment (sinfo, squeue, scontrol, kadmin.local...). */
  root(cmd: string[], opts: RunOptions = {}): RunResult {
    const [file, ...args] = cmd;
    if (file === undefined) throw new Error('root(): empty command');
    return run(file, args, { ...opts, env: { ...process.env, ...this.env } });
  }

  /** True when squeue lists no pending, running or completing job. */
  squeueEmpty(): boolean {
    const r = this.root(['squeue', '-h', '-o', '%i %T']);
    if (r.code !== 0) throw new Error(`squeue failed: ${r.stderr}`);
    return r.stdout.trim() === '';
  }

  /** Wait until job JOBID has left squeue (finished); throws after timeoutMs. */
  async waitJob(jobid: number | string, timeoutMs = 30_000): Promise<void> {
    await waitFor(() => {
      const r = this.root(['squeue', '-h', '-j', String(jobid), '-o', '%T']);
      // After MinJobAge squeue forgets the job and says "Invalid job id": finished too.
      return r.stdout.trim() === '' || /COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_ME/.test(r.stdout);
    }, timeoutMs, `job ${jobid} to finish`);
  }

  /**
   * The node's state as slurmctld holds it (`scontrol -o show node`), lower case: "idle", "mixed",
   * "idle+drain", ... sinfo's %T was seen to say "mixed" for a while after scontrol said IDLE with
   * no CPU allocated, so it is not used here. A drained node never reads plain "idle".
   */
  slurmNodeState(node = 'localhost'): string {
    const r = this.root(['scontrol', '-o', 'show', 'node', node]);
    return (/\bState=(\S+)/.exec(r.stdout)?.[1] ?? `unknown (${r.stderr.trim()})`).toLowerCase();
  }


  /** Stop the daemons (safe twice); rm removes DIR too. */
  down(opts: { rm?: boolean } = {}): void {
    tc(['down', '--dir', this.dir, ...(opts.rm ? ['--rm'] : [])]);
  }
}

/** Bring up a cluster (sync; about 1-2 s). */
export function up(opts: UpOptions = {}): Cluster {
  const args = ['up'];
  if (opts.dir !== undefined) args.push('--dir', opts.dir);
  if (opts.ticketLifetime !== undefined) args.push('--ticket-lifetime', opts.ticketLifetime);
  if (opts.renewLifetime !== undefined) args.push('--renew-lifetime', opts.renewLifetime);
  if (opts.plugin === false) args.push('--no-plugin');
  if (opts.store === false) args.push('--no-store');
  if (opts.keeper === false) args.push('--no-keeper');
  if (opts.only !== undefined) args.push('--only', opts.only);
  for (const kv of opts.pluginArgs ?? []) args.push('--plugin-arg', kv);
  if (opts.realms !== undefined) args.push('--realms', String(opts.realms));
  if (opts.prolog) args.push('--prolog');
  for (const [k, v] of Object.entries(opts.conf ?? {})) args.push('--conf', `${k}=${v}`);
  if (opts.metrics) args.push('--metrics');
  if (opts.installed !== undefined) args.push('--installed', opts.installed);
  if (opts.gateway) args.push('--gateway');
  if (opts.nodes !== undefined) args.push('--nodes', String(opts.nodes));
  if (opts.etcd !== undefined) args.push('--etcd', String(opts.etcd));
  if (opts.stores !== undefined) args.push('--stores', String(opts.stores));
  if (opts.auth !== undefined) args.push('--auth', opts.auth);
  const dir = tc(args).stdout.trim();
  if (!dir.startsWith('/')) throw new Error(`scripts/testcluster up printed "${dir}", expected a directory`);
  return new Cluster(dir);
}

/** Poll fn every intervalMs until it returns true; throw naming `what` after timeoutMs. */
export async function waitFor(
  fn: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what = 'condition',
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Is pid a live process (not a zombie)? */
export function pidAlive(pid: number): boolean {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const state = /^State:\s+(\S)/m.exec(status)?.[1];
    return state !== undefined && state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/**
 * Jest lifecycle of an end-to-end test file: a cluster is up before its tests; after them the node
 * must not have been drained by anything the tests did, and the cluster is torn down.
 */
export function clusterForFile(opts: UpOptions = {}): { get(): Cluster } {
  let c: Cluster | undefined;
  beforeAll(() => {
    c = up(opts);
  });
  afterAll(async () => {
    if (!c) return;
    const cluster = c;
    try {
      // Jobs a file left running are cancelled; their epilogs (destroy) may still run: wait for the
      // node to settle, then it must be idle. A drained node ("idle+drain", ...) fails here.
      cluster.root(['scancel', '--partition', 'debug']);
      for (const node of cluster.nodes) {
        await waitFor(() => !/(completing|allocated|mixed)/.test(cluster.slurmNodeState(node)), 60_000, `${node} to finish its jobs`).catch(() => undefined);
        expect(`${node} ${cluster.slurmNodeState(node)}`).toBe(`${node} idle`);
      }
    } finally {
      cluster.down({ rm: true });
    }
  }, 120_000);
  return {
    get(): Cluster {
      if (!c) throw new Error('the test cluster is not up');
      return c;
    },
  };
}
