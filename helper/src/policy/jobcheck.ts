/**
 * Job-bound fetch (docs/security.md): the store releases uid U's credential to node N only while
 * a job of U is starting or running on N, as slurmctld says. Asked in-process through libslurm
 * (slurm/slurmctld.ts: slurm_load_job, slurm_load_node; one RPC, no process per job), reading
 * only fields users cannot set (job id, uid, state, node list; node name, NodeAddr,
 * NodeHostName: never the job name or working directory, which a user could fill with
 * "NodeList=..." to forge a match). One lookup per job is cached and shared by every concurrent
 * request, so a 5,000-node job start costs one slurm_load_job; the node table likewise.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Krb5BridgeError } from '../errors';
import { expandHostlist } from '../slurm/hostlist';
import { Slurmctld, SlurmctldOptions, SlurmSource } from '../slurm/slurmctld';
import { normaliseAddr } from './acl';

export interface JobCheckOptions extends SlurmctldOptions {
  /** How long a "running on these nodes" answer is reused. */
  jobTtlMs?: number;
  /** How long a negative answer is reused (keeps a refused node's retries from hammering slurmctld). */
  negativeTtlMs?: number;
  nodeTtlMs?: number;
}

/** States in which a job's steps start or run on its nodes. */
const LIVE_STATES = new Set(['RUNNING', 'CONFIGURING', 'COMPLETING', 'SUSPENDED', 'RESIZING', 'SIGNALING', 'STAGE_OUT']);

export interface JobInfo {
  job: string;
  uid: number;
  state: string;
  nodes: Set<string>;
}

/** The node asking, as the transport identified it. */
export interface NodePeer {
  /** Peer IP address. */
  addr?: string | undefined;
  /** Kerberos-authenticated host name (krb5 mode), if any. */
  hostName?: string | undefined;
}

export class JobChecker {
  private readonly jobs = new Map<string, { info: Promise<JobInfo | undefined>; until: number }>();
  private nodeTable: { byAddr: Promise<Map<string, Set<string>>>; until: number } | undefined;
  /** Questions asked of slurmctld so far (for tests and the benchmark). */
  lookups = 0;
  private readonly slurm: SlurmSource;

  constructor(
    private readonly o: JobCheckOptions = {},
    slurm?: SlurmSource,
  ) {
    this.slurm = slurm ?? new Slurmctld(o);
  }

  close(): void {
    this.slurm.close?.();
  }

  /** The job as slurmctld knows it; undefined = no such job (finished and purged, or never). */
  job(job: string): Promise<JobInfo | undefined> {
    const now = Date.now();
    const hit = this.jobs.get(job);
    if (hit && hit.until > now) return hit.info;
    if (this.jobs.size > 100_000) this.jobs.clear();
    const info = this.queryJob(job);
    const entry = { info, until: now + (this.o.jobTtlMs ?? 10_000) };
    this.jobs.set(job, entry);
    // Failures and refusals are not kept long: the job may start, slurmctld may come back.
    info.then(
      (i) => {
        if (!i || !LIVE_STATES.has(i.state)) entry.until = Math.min(entry.until, Date.now() + (this.o.negativeTtlMs ?? 1_000));
      },
      () => this.jobs.get(job) === entry && this.jobs.delete(job),
    );
    return info;
  }

  private async queryJob(job: string): Promise<JobInfo | undefined> {
    this.lookups++;
    const j = await this.slurm.job(job);
    if (!j) return undefined;
    const nodes = j.nodes === '' || j.nodes === '(null)' ? new Set<string>() : new Set(expandHostlist(j.nodes));
    return { job, uid: j.user_id, state: j.state, nodes };
  }

  /** Peer address -> the names of the nodes that have it (NodeAddr, or NodeHostName resolved). */
  private nodesByAddr(force: boolean): Promise<Map<string, Set<string>>> {
    const now = Date.now();
    if (!force && this.nodeTable && this.nodeTable.until > now) return this.nodeTable.byAddr;
    // A forced refresh (unknown peer) at most every 5 s, so unknown peers cannot make us spin.
    if (force && this.nodeTable && this.nodeTable.until - (this.o.nodeTtlMs ?? 60_000) + 5_000 > now) return this.nodeTable.byAddr;
    const byAddr = this.queryNodes();
    const entry = { byAddr, until: now + (this.o.nodeTtlMs ?? 60_000) };
    this.nodeTable = entry;
    byAddr.catch(() => {
      if (this.nodeTable === entry) this.nodeTable = undefined;
    });
    return byAddr;
  }

  private async queryNodes(): Promise<Map<string, Set<string>>> {
    this.lookups++;
    const rows = await this.slurm.nodes();
    const byAddr = new Map<string, Set<string>>();
    const add = (addr: string, node: string): void => {
      const a = normaliseAddr(addr);
      if (!byAddr.has(a)) byAddr.set(a, new Set());
      byAddr.get(a)!.add(node);
    };
    const seen = new Set<string>();
    const toResolve: [string, string][] = [];
    for (const { name, addr, hostname: hostName } of rows) {
      if (!name || seen.has(name)) continue;
      seen.add(name);
      // NodeHostName is matched by name only (a Kerberos host principal); NodeAddr is where slurmctld
      // reaches the node, so it is the address the node's connections come from (resolved if a name).
      if (hostName) add(hostName.toLowerCase(), name);
      if (!addr) continue;
      if (isIP(addr)) add(addr, name);
      else {
        add(addr.toLowerCase(), name);
        toResolve.push([addr, name]);
      }
    }
    // Names resolve in parallel, 64 at a time: a 5,000-node table must not take 5,000 round trips.
    for (let i = 0; i < toResolve.length; i += 64) {
      await Promise.all(
        toResolve.slice(i, i + 64).map(async ([a, name]) => {
          for (const x of await lookup(a, { all: true }).catch(() => [])) add(x.address, name);
        }),
      );
    }
    return byAddr;
  }

  /**
   * Refuses (E_NO_JOB) unless job `job` belongs to `uid`, is starting or running, and `peer` is
   * one of its nodes. Returns the node name that matched.
   */
  async check(uid: number, job: string | undefined, peer: NodePeer): Promise<string> {
    if (job === undefined) throw new Krb5BridgeError('E_NO_JOB', 'the fetch names no job; fetches are job-bound on this store (update krb5bridge on the node)');
    const info = await this.job(job);
    if (!info) throw new Krb5BridgeError('E_NO_JOB', `job ${job} is not known to slurmctld (finished or never existed)`);
    if (info.uid !== uid) throw new Krb5BridgeError('E_NO_JOB', `job ${job} belongs to uid ${info.uid}, not uid ${uid}`);
    if (!LIVE_STATES.has(info.state)) throw new Krb5BridgeError('E_NO_JOB', `job ${job} is ${info.state}, not starting or running`);
    const keys = [peer.hostName?.toLowerCase().replace(/\.$/, ''), peer.addr ? normaliseAddr(peer.addr) : undefined].filter((k): k is string => !!k);
    for (const force of [false, true]) {
      const table = await this.nodesByAddr(force);
      const known = [...new Set(keys.flatMap((k) => [...(table.get(k) ?? [])]))];
      const hit = known.find((n) => info.nodes.has(n));
      if (hit) return hit;
      if (known.length > 0) {
        throw new Krb5BridgeError('E_NO_JOB', `job ${job} of uid ${uid} does not run on ${known.join(',')} (the asking host ${keys.join(' / ')}); it runs on ${[...info.nodes].slice(0, 5).join(',')}${info.nodes.size > 5 ? ',...' : ''}`);
      }
    }
    throw new Krb5BridgeError('E_NO_JOB', `the asking host ${keys.join(' / ') || '(unknown)'} is not a node of this cluster (sinfo NodeAddr/NodeHostName), so it runs no job ${job}`);
  }
}
