/**
 * Jest-side wrapper of scripts/testcluster: a real throwaway KDC + munged + Slurm + store.
 * Every call runs the script synchronously; failures throw with the script's stderr so a test
 * report shows what broke (which daemon, which log).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
  /** `--nodes N`: N compute nodes node1..nodeN, each in namespaces of its own (scripts/testcluster-nodes.bash). */
  nodes?: number;
  /** `--etcd M`: the store on an etcd cluster of M members; `--stores K`: K stores sharing it. */
  etcd?: number;
  stores?: number;
  auth?: 'munge' | 'krb5';
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
    tc(['etcd-stop', '--member', String(member), '--dir', this.dir, '--signal', signal]);
  }

  etcdStart(member: number): void {
    tc(['etcd-start', '--member', String(member), '--dir', this.dir], { timeoutMs: 60_000 });
  }

  keeperStop(node?: string, signal: 'TERM' | 'KILL' = 'TERM'): void {
    tc(['keeper-stop', '--dir', this.dir, '--signal', signal, ...(node ? ['--node', node] : [])]);
  }

  keeperStart(node?: string): void {
    tc(['keeper-start', '--dir', this.dir, ...(node ? ['--node', node] : [])]);
  }

  /** Create (idempotently) unix user + principal NAME@REALM + keytab. */
  adduser(name: string): User {
    tc(['adduser', name, '--dir', this.dir]);
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
    tc(['store-stop', '--dir', this.dir, '--signal', signal, ...(store > 1 ? ['--store', String(store)] : [])]);
  }

  storeStart(store = 1): void {
    tc(['store-start', '--dir', this.dir, ...(store > 1 ? ['--store', String(store)] : [])]);
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
