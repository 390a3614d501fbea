/**
 * The `etcd` backend (storage = etcd): the records in an etcd cluster (Debian's etcd-server 3.4)
 * that several `krb5bridge serve` share. docs/internals.md ("Store state on etcd") has the keys:
 *   <prefix>creds/<uid>                    the sealed record (records/codec.ts: no principal, no ticket in clear)
 *   <prefix>election/renewer/<lease>       the renewer's election (election.ts)
 *   <prefix>stores/<host:pid>              each live store and the key ids it holds (registry.ts)
 *
 * Every store answers from a complete view in memory, loaded at start and kept current by a watch
 * on `<prefix>creds/` (records/view.ts): fetches never wait for etcd and go on while etcd has no
 * quorum. Every write is a transaction that compares the key's mod_revision with the one this
 * store last saw (0: absent) and writes only if it is unchanged; otherwise it reads what is there,
 * puts it into the view and the write is decided again (view.ts: StorageConflict), so "only a
 * fresher ticket replaces" holds across stores, and a write whose answer was lost is safe to
 * retry (the retry finds it and decides again). The revision of each write is the record's version.
 *
 * Health: a linearizable read every second; when it fails (no quorum, no member reachable) the
 * store says once in the log that it is read-only and why, pushes are refused with E_STORAGE
 * naming that cause, fetches go on from memory; it says once when writes work again.
 */
import { hostname } from 'node:os';
import { statSync } from 'node:fs';
import type { Etcd3, IKeyValue, Namespace, Watcher } from 'etcd3';
import { Krb5BridgeError } from '../../errors';
import type { RecordCodec } from '../codec';
import { mergeKeyFile } from '../keyfile';
import type { Leadership, StorageHealth, StoredCredential } from '../types';
import { StorageConflict, ViewStore } from '../view';
import { EtcdConnection, connectEtcd, etcdCause } from './connect';
import { EtcdElection } from './election';
import { StoreRegistry } from './registry';

export interface EtcdOptions extends EtcdConnection {
  /** Key prefix of this cluster (config etcd_prefix), ending in "/". */
  prefix: string;
  /** TTL of the renewer's election lease and of this store's registration, seconds. */
  leaseTtl: number;
  codec: RecordCodec;
  /** The key file: read again when it changes (a key prepared or rotated on another store host). */
  keyFile: string;
  log: (line: string) => void;
  /** A loaded record must also pass this (its KRB-CRED readable); else it is not served (logged). */
  validate?: (cred: StoredCredential) => void;
  /** How often etcd's health is read (ms). */
  probeMs?: number;
  /** How often the key file's modification time is looked at (ms). */
  keyFilePollMs?: number;
}

const UID_KEY = /^creds\/(\d{1,10})$/;
/** Successes in a row (probes, writes) before a store that was read-only says it takes writes again. */
const HEALTHY_AFTER = 3;
/** Stores of this process (tests run several): each registers and stands under a name of its own. */
let instances = 0;


export class EtcdRecordStore extends ViewStore {
  readonly description: string;
  readonly leadership: Leadership;
  private readonly client: Etcd3;
  private readonly ns: Namespace;
  private readonly registry: StoreRegistry;
  private readonly election: EtcdElection;
  /**
   * uid -> what this store last saw of its key: `rev` the revision of that event (a deletion's
   * too: older events are ignored), `mod` the key's mod_revision (0: absent), which writes compare.
   */
  private readonly seen = new Map<number, { rev: number; mod: number }>();
  /** Records in etcd this store cannot open (a key it lacks, tampered): not served, kept for a key file reload. */
  private readonly unopened = new Map<number, { text: string; rev: number; why: string }>();
  private watcher: Watcher | undefined;
  private problem: { problem: string; since: number } | undefined;
  private okStreak = 0;
  private timers: NodeJS.Timeout[] = [];
  private keyFileMtime = 0;
  private closed = false;

  private constructor(private readonly o: EtcdOptions) {
    super(o.codec, o.log);
    this.description = `etcd (${o.endpoints.split(',').length} member(s), prefix ${o.prefix})`;
    this.client = connectEtcd(o);
    this.ns = this.client.namespace(o.prefix);
    const n = ++instances;
    const me = `${hostname()}:${process.pid}${n > 1 ? `#${n}` : ''}`;
    this.registry = new StoreRegistry(this.ns, o.leaseTtl, me, o.log);
    this.election = new EtcdElection(this.ns, o.leaseTtl, me, o.log);
    this.leadership = this.election;
  }

  /** Connect, load every record, start the watch, the health probe, the registration and the election. */
  static async open(o: EtcdOptions): Promise<EtcdRecordStore> {
    const s = new EtcdRecordStore(o);
    try {
      await s.loadAll();
      await s.registry.publish(o.codec.keys.all().map((k) => k.id));
    } catch (e) {
      s.client.close();
      throw new Krb5BridgeError('E_STORAGE', `cannot load the records from ${s.description}: ${etcdCause(e)} (are the members up, and etcd_endpoints right?)`, { cause: e });
    }
    s.keyFileMtime = s.mtimeOf(o.keyFile);
    s.every(o.probeMs ?? 1_000, () => s.probe());
    s.every(o.keyFilePollMs ?? 5_000, () => s.pollKeyFile());
    s.election.start();
    return s;
  }

  private every(ms: number, fn: () => Promise<void> | void): void {
    const t = setInterval(() => void fn(), ms);
    t.unref();
    this.timers.push(t);
  }

  private key(uid: number): string {
    return `creds/${uid}`;
  }

  /** The whole prefix, then a watch from the revision after it (compaction past it: load again). */
  private async loadAll(): Promise<void> {
    const res = await this.ns.getAll().prefix('creds/').exec();
    for (const kv of res.kvs) this.learn(kv, true);
    await this.watchFrom(Number(res.header.revision) + 1);
  }

  private async watchFrom(revision: number): Promise<void> {
    const w = await this.ns.watch().prefix('creds/').startRevision(String(revision)).create();
    if (this.closed) {
      await w.cancel();
      return;
    }
    this.watcher = w;
    w.on('put', (kv: IKeyValue) => this.learn(kv, false));
    w.on('delete', (kv: IKeyValue) => this.learn(kv, false, true));
    // Canceled by etcd (its history was compacted past our revision): read everything again.
    w.on('error', (e: Error) => {
      if (this.closed || this.watcher !== w) return;
      this.watcher = undefined;
      this.o.log(`the watch on ${this.description} ended (${etcdCause(e)}); loading every record again`);
      void w.cancel().catch(() => undefined);
      void this.reload();
    });
  }

  private async reload(): Promise<void> {
    for (let delay = 500; !this.closed; delay = Math.min(delay * 2, 10_000)) {
      try {
        const res = await this.ns.getAll().prefix('creds/').exec();
        const present = new Set<number>();
        for (const kv of res.kvs) {
          const uid = this.learn(kv, false);
          if (uid !== undefined) present.add(uid);
        }
        // Deleted while we did not watch: absent from the new listing.
        const rev = Number(res.header.revision);
        for (const e of this.list()) if (!present.has(e.cred.uid)) this.apply(e.cred.uid, undefined, rev);
        await this.watchFrom(rev + 1);
        return;
      } catch (e) {
        this.o.log(`cannot load the records from ${this.description} again (${etcdCause(e)}); trying again in ${delay / 1000} s`);
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  }

  /** A key seen in a listing or the watch; returns its uid. Older than what this store saw: ignored. */
  private learn(kv: IKeyValue, initial: boolean, deleted = false): number | undefined {
    const m = UID_KEY.exec(kv.key.toString());
    if (!m) return undefined;
    const uid = Number(m[1]);
    const rev = Number(kv.mod_revision);
    if (deleted) {
      this.apply(uid, undefined, rev);
      return uid;
    }
    const text = kv.value.toString();
    let cred: StoredCredential;
    try {
      cred = this.codec.decode(uid, text).cred;
      this.o.validate?.(cred);
    } catch (e) {
      if (this.revOf(uid) >= rev) return uid;
      this.seen.set(uid, { rev, mod: rev });
      const why = (e as Error).message;
      if (this.unopened.get(uid)?.why !== why) this.o.log(`the record of uid ${uid} in ${this.description} does not open (${why}); not served by this store until it does (copy the key file of the store host that wrote it here?)`);
      this.unopened.set(uid, { text, rev, why });
      if (!initial) void this.adopt(uid, undefined, () => this.revOf(uid) === rev);
      return uid;
    }
    if (initial) {
      this.seen.set(uid, { rev, mod: rev });
      this.load(cred, String(rev));
    } else this.apply(uid, cred, rev);
    return uid;
  }

  private revOf(uid: number): number {
    return this.seen.get(uid)?.rev ?? 0;
  }

  /** Bring a change at revision `rev` into the view, unless this store already saw a later one. */
  private apply(uid: number, cred: StoredCredential | undefined, rev: number): void {
    if (this.revOf(uid) >= rev) return;
    this.seen.set(uid, { rev, mod: cred ? rev : 0 });
    this.unopened.delete(uid);
    // Checked again under uid's lock: a write of ours that lands first moves `seen` past `rev`.
    void this.adopt(uid, cred ? { cred, version: String(rev) } : undefined, () => this.revOf(uid) === rev);
  }

  /** After a lost compare-and-swap: what etcd holds now goes into the view (the caller holds uid's lock). */
  private settleConflict(uid: number, kvs: IKeyValue[], headerRev: number): never {
    const kv = kvs[0];
    if (!kv) {
      this.seen.set(uid, { rev: headerRev, mod: 0 });
      this.unopened.delete(uid);
      this.setView(uid, undefined);
      throw new StorageConflict(uid);
    }
    const rev = Number(kv.mod_revision);
    this.seen.set(uid, { rev: Math.max(rev, this.revOf(uid)), mod: rev });
    try {
      const cred = this.codec.decode(uid, kv.value.toString()).cred;
      this.unopened.delete(uid);
      this.setView(uid, { cred, version: String(rev) });
    } catch (e) {
      this.unopened.set(uid, { text: kv.value.toString(), rev, why: (e as Error).message });
      this.setView(uid, undefined);
    }
    throw new StorageConflict(uid);
  }

  /** Compare-and-swap on the revision this store last saw; the new revision is the record's version. */
  protected async writeSealed(uid: number, sealed: string): Promise<string> {
    const mod = this.seen.get(uid)?.mod ?? 0;
    const key = this.key(uid);
    const r = await this.txn(`save the record of uid ${uid}`, () =>
      this.ns.if(key, 'Mod', '==', mod).then(this.ns.put(key).value(sealed)).else(this.ns.get(key)).commit(),
    );
    if (!r.succeeded) this.settleConflict(uid, r.responses[0]?.response_range?.kvs ?? [], Number(r.header.revision));
    const rev = Number(r.header.revision);
    this.seen.set(uid, { rev, mod: rev });
    this.unopened.delete(uid);
    return String(rev);
  }

  protected async removeSealed(uid: number): Promise<void> {
    const mod = this.seen.get(uid)?.mod ?? 0;
    if (mod === 0) return;
    const key = this.key(uid);
    const r = await this.txn(`remove the record of uid ${uid}`, () =>
      this.ns.if(key, 'Mod', '==', mod).then(this.ns.delete().key(key)).else(this.ns.get(key)).commit(),
    );
    if (!r.succeeded) this.settleConflict(uid, r.responses[0]?.response_range?.kvs ?? [], Number(r.header.revision));
    this.seen.set(uid, { rev: Number(r.header.revision), mod: 0 });
    this.unopened.delete(uid);
  }

  /** A write to etcd, E_STORAGE naming the cause when etcd cannot take it. */
  private async txn<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      const r = await fn();
      this.healthy();
      return r;
    } catch (e) {
      if (e instanceof StorageConflict) throw e;
      const cause = etcdCause(e);
      this.unhealthy(cause);
      throw new Krb5BridgeError('E_STORAGE', `cannot ${what} in ${this.description}: ${cause}; ${this.readOnlyNote()}`, { cause: e });
    }
  }

  private readOnlyNote(): string {
    const since = this.problem ? ` since ${new Date(this.problem.since * 1000).toISOString()}` : '';
    return `etcd takes no writes${since} (no quorum, or no member reachable from this store): pushes are refused, fetches are answered from memory`;
  }

  /** The latest stored text, read linearizably (key rotation reads what etcd holds, not the view). */
  protected async readSealed(uid: number): Promise<string | undefined> {
    try {
      return (await this.ns.get(this.key(uid)).string()) ?? undefined;
    } catch (e) {
      throw new Krb5BridgeError('E_STORAGE', `cannot read the record of uid ${uid} from ${this.description}: ${etcdCause(e)}`, { cause: e });
    }
  }

  async storedUids(): Promise<number[]> {
    try {
      const keys = await this.ns.getAll().prefix('creds/').keys();
      return keys
        .map((k) => UID_KEY.exec(k)?.[1])
        .filter((u): u is string => u !== undefined)
        .map(Number)
        .sort((a, b) => a - b);
    } catch (e) {
      throw new Krb5BridgeError('E_STORAGE', `cannot list the records in ${this.description}: ${etcdCause(e)}`, { cause: e });
    }
  }

  async beforeRotation(keyId: number): Promise<void> {
    await this.registry.requireKey(keyId);
  }

  /** One linearizable read: does etcd take requests that need its quorum? */
  private async probe(): Promise<void> {
    try {
      await this.ns.get('health').exec();
      this.healthy();
    } catch (e) {
      this.unhealthy(etcdCause(e));
    }
  }

  private unhealthy(cause: string): void {
    this.okStreak = 0;
    if (this.problem) return;
    this.problem = { problem: `E_STORAGE: ${this.description} takes no writes: ${cause}`, since: Math.floor(Date.now() / 1000) };
    this.o.log(`result=E_STORAGE ${this.description} takes no writes (${cause}): this store is read-only, pushes are refused, fetches are answered from memory, renewed tickets are kept in memory until etcd takes writes again`);
  }

  /** A success; read-only ends after HEALTHY_AFTER in a row (members coming back flap for a while). */
  private healthy(): void {
    this.okStreak++;
    if (!this.problem || this.okStreak < HEALTHY_AFTER) return;
    this.o.log(`${this.description} takes writes again (no writes since ${new Date(this.problem.since * 1000).toISOString()})`);
    this.problem = undefined;
  }

  override health(): StorageHealth {
    const own = super.health();
    if (!own.ok || !this.problem) return own;
    return { ok: false, ...this.problem, unsaved: 0 };
  }

  private mtimeOf(path: string): number {
    try {
      return statSync(path).mtimeMs;
    } catch {
      return 0;
    }
  }

  /** The key file changed: take its keys, publish their ids, open what did not open before. */
  private async pollKeyFile(): Promise<void> {
    const m = this.mtimeOf(this.o.keyFile);
    if (m === this.keyFileMtime) return;
    this.keyFileMtime = m;
    try {
      const { added, current } = mergeKeyFile(this.o.keyFile, this.codec.keys);
      if (added.length === 0 && current === undefined) return;
      await this.registry.publish(this.codec.keys.all().map((k) => k.id));
      this.o.log(`key file ${this.o.keyFile} changed: ${added.length ? `key(s) ${added.join(', ')} added` : 'no new key'}${current !== undefined ? `, key ${current} now encrypts` : ''}`);
      for (const [uid, u] of [...this.unopened]) {
        this.unopened.delete(uid);
        this.seen.delete(uid);
        this.learn({ key: Buffer.from(this.key(uid)), value: Buffer.from(u.text), mod_revision: String(u.rev) } as IKeyValue, false);
      }
    } catch (e) {
      this.o.log(`key file ${this.o.keyFile} changed but cannot be read (${(e as Error).message}); keeping the keys in use`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.stopRetrying();
    await this.settled();
    await this.election.close();
    await this.registry.close();
    await this.watcher?.cancel().catch(() => undefined);
    this.client.close();
  }
}
