/**
 * The store daemon, wired: the records (records/, behind the storage seam), the policy (policy/),
 * the service (service/, one handler per op), the audit log and the TCP listener. build() opens
 * and checks everything, so a bad key file, keytab or state directory stops the start, not the
 * first client; listen() starts accepting (fastify's build/listen split). The renewer is started
 * beside it (renewer/, `krb5bridge serve`).
 */
import type { AddressInfo } from 'node:net';
import { parseAddress } from '../config/config';
import { Audit, noAudit } from '../audit/audit';
import { parseKrbCred } from '../krb5';
import { Authorizer } from '../policy/authorize';
import { Policy, defaultPolicy } from '../policy/acl';
import { hostResolver } from '../policy/hostresolve';
import { JobCheckOptions, JobChecker } from '../policy/jobcheck';
import type { RecordCodec } from '../records/codec';
import { DEFAULT_KEY_FILE } from '../records/keyfile';
import { EtcdSettings, openRecords } from '../records/open';
import { RotateResult, rotateKey } from '../records/rotate';
import type { RecordStore } from '../records/types';
import { Service } from '../service';
import { AccountResolver, GroupResolver } from '../sys/accounts';
import { VERSION } from '../version';
import { Krb5Acceptor } from '../wire/auth';
import { createListener } from './listener';

export interface StoreOptions {
  /** HOST:PORT; port 0 picks a free port. */
  listen: string;
  /** storage = dir (the default): the state directory. */
  stateDir: string;
  /** The storage backend (records/open.ts); default dir. */
  storage?: string;
  /** storage = etcd: the cluster. */
  etcd?: EtcdSettings | undefined;
  minUid: number;
  mungeSocket?: string | undefined;
  /** krb5 mode: the store's service principal and its keytab; both set = krb5 clients accepted too. */
  krb5?: { principal: string; keytab: string } | undefined;
  maxConnections?: number;
  idleTimeoutMs?: number;
  frameTimeoutMs?: number;
  maxBufferedBytes?: number;
  log?: (line: string) => void;
  /** Root-only key file for encryption at rest (created with a new key if missing). */
  keyFile?: string | undefined;
  /** Site policy (policy/acl.ts); undefined = the default policy (root: node+admin; uid >= minUid: user). */
  policy?: Policy | undefined;
  /** Job-bound fetch: options for the slurmctld checks; undefined = off. `serve` turns it on by default. */
  jobCheck?: JobCheckOptions | undefined;
  /** Where audit lines go (audit/audit.ts: openAuditLog); undefined = nowhere. */
  audit?: Audit | undefined;
  /** Each answered request (metrics/store.ts); undefined = not measured. */
  observe?: ((op: string, result: string, seconds: number) => void) | undefined;
}

export interface Store {
  /** Start accepting; resolves with the bound address. */
  listen(): Promise<AddressInfo>;
  /** Stop accepting, let in-flight requests finish, close every connection, release the records. */
  close(): Promise<void>;
  readonly records: RecordStore;
  readonly codec: RecordCodec;
  /** Open connections now. */
  connections(): number;
  /** The audit log (the renewer records its refreshes here too). */
  readonly audit: Audit;
  /** Job-bound fetch checker, if on. */
  readonly jobs: JobChecker | undefined;
  /** Key rotation of these records (the `rotate` op does the same). */
  rotate(): Promise<RotateResult>;
}

/** A loaded record must still hold a KRB-CRED libkrb5 can read. */
function validateLoaded(cred: { creds: string }): void {
  parseKrbCred(Buffer.from(cred.creds, 'base64'));
}

/** Open the records and wire the parts; nothing listens yet. */
export async function build(opts: StoreOptions): Promise<Store> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${new Date().toISOString()} krb5bridge: ${line}\n`));
  parseAddress(opts.listen, '--listen');
  const keyFile = opts.keyFile ?? DEFAULT_KEY_FILE;
  // Checked first: a job check without a slurm.conf stops the start (E_CONFIG), not the first fetch.
  const jobs = opts.jobCheck ? new JobChecker(opts.jobCheck) : undefined;
  const { records, codec } = await openRecords({ storage: opts.storage ?? 'dir', stateDir: opts.stateDir, etcd: opts.etcd, keyFile, log, validate: validateLoaded });
  log(`loaded ${records.list().length} credential(s) from the ${records.description}`);
  let krb5: Krb5Acceptor | undefined;
  try {
    // Opened now: a missing or unsafe keytab stops the start with E_CONFIG, not the first client.
    krb5 = opts.krb5 ? new Krb5Acceptor(opts.krb5.principal, opts.krb5.keytab) : undefined;
  } catch (e) {
    jobs?.close();
    await records.close();
    throw e;
  }
  const audit = opts.audit ?? noAudit;
  const accounts = new AccountResolver();
  const groups = new GroupResolver();
  const auth = new Authorizer({
    policy: opts.policy ?? defaultPolicy(opts.minUid),
    env: { groupsOf: (uid) => groups.groupsOf(uid), resolveHost: hostResolver() },
    jobs,
    minUid: opts.minUid,
    uidOf: (name) => accounts.uidOf(name),
  });
  const rotate = (): Promise<RotateResult> => rotateKey(records, codec.keys, keyFile, log);
  const service = new Service({ records, auth, version: VERSION, now: () => Math.floor(Date.now() / 1000), rotate, observe: opts.observe }, log, audit);
  const listener = createListener({
    listen: opts.listen,
    auth: { mungeSocket: opts.mungeSocket, krb5 },
    service,
    audit,
    log,
    maxConnections: opts.maxConnections,
    idleTimeoutMs: opts.idleTimeoutMs,
    frameTimeoutMs: opts.frameTimeoutMs,
    maxBufferedBytes: opts.maxBufferedBytes,
  });
  return {
    records,
    codec,
    audit,
    jobs,
    rotate,
    connections: listener.connections,
    listen: listener.listen,
    async close() {
      await listener.close();
      krb5?.close();
      jobs?.close();
      await records.close();
    },
  };
}
