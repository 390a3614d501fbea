/**
 * The store client. The `auth` config key picks the mechanism (store/auth): munge (each request a
 * credential only `store_uid` can read, each answer one made by `store_uid`) or krb5 (a mutual
 * AP-REQ/AP-REP handshake per connection, then KRB-PRIV messages; the user's ccache for their own
 * requests, the node's host keytab for fetch). Every answer must carry our nonce, which binds it
 * to the question.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { ERRORS, ErrorCode, Krb5BridgeError, isKrb5BridgeError } from '../errors';
import type { Config } from '../config/config';
import { ClientAuth, ClientRole, clientAuthFor } from '../wire/auth';
import { OkResponse, RecordInfo, parseRecordInfo, parseResponse } from '../wire/messages';
import { trace } from '../util/log';
import { StoreConnection } from './connection';

export type RequestFields =
  | { op: 'push'; creds: string; force?: boolean }
  | { op: 'fetch'; uid: number; job?: string }
  | { op: 'show'; uid: number }
  | { op: 'remove'; uid?: number }
  | { op: 'ping' | 'list' | 'rotate' };

/** Errors after which the next store is tried: this one could not answer, or cannot store. */
const FAIL_OVER = new Set<ErrorCode>(['E_STORE_UNREACHABLE', 'E_STORE_TIMEOUT', 'E_STORE_CLOSED', 'E_PROTOCOL', 'E_STORAGE']);

export interface SessionOptions {
  /** The mechanism, instead of the `auth` key (the keeper: krb5 with the host keytab where one exists). */
  mech?: 'munge' | 'krb5' | undefined;
  /** Index in the `store` list of the store tried first (default: a random one). */
  start?: number | undefined;
}

/**
 * A connection that can carry several requests, one at a time (concurrent callers queue), opened
 * on first use. `store` may list several stores: a session starts at a random one (spreading
 * clients over them) and stays with the one that answered; when a store cannot answer (refused,
 * closed, silent, or its storage refuses writes) the next is tried, each with its share of what is
 * left of `timeout`, so a dead or hung store costs at most its share. Every request may be sent
 * again to another store: a push only replaces a less fresh ticket, the rest only read. A
 * connection the store closed while idle is opened again once, to the same store.
 * `who` says which identity krb5 mode uses; by default the node's for fetch, the user's otherwise.
 */
export class StoreSession {
  private conn: StoreConnection | undefined;
  private auth: ClientAuth | undefined;
  private readonly stores: string[];
  /** Index in `stores` of the store this session talks to (or tries first). */
  private current: number;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly config: Config,
    private readonly who?: ClientRole,
    private readonly opts: SessionOptions = {},
  ) {
    this.stores = config.store.split(',');
    this.current = (opts.start ?? (this.stores.length > 1 ? randomInt(this.stores.length) : 0)) % this.stores.length;
  }

  /** Is a connection open and authenticated (the next request needs no new handshake)? */
  get connected(): boolean {
    return !!(this.conn && this.auth && !this.conn.broken);
  }

  /** The store this session talks to now (or will try first). */
  get store(): string {
    return this.stores[this.current]!;
  }

  /** Connect and authenticate (krb5: mutual handshake); nothing of a request is sent before it succeeds. */
  private async open(store: string, op: string, deadline: number): Promise<{ conn: StoreConnection; auth: ClientAuth; reused: boolean }> {
    if (this.connected) return { conn: this.conn!, auth: this.auth!, reused: true };
    this.close();
    const config = { ...this.config, store, ...(this.opts.mech ? { auth: this.opts.mech } : {}) };
    const auth = clientAuthFor(config, this.who ?? (op === 'fetch' ? { role: 'node' } : { role: 'user' }));
    trace(`connecting to store ${store} (auth ${auth.mech})`);
    let conn: StoreConnection | undefined;
    try {
      conn = await StoreConnection.connect(store, deadline);
      const c = conn;
      await auth.handshake((frame) => c.request(frame, deadline));
    } catch (e) {
      conn?.close();
      auth.close();
      throw e;
    }
    if (auth.mech === 'krb5') trace('store proved its identity (krb5 mutual authentication)');
    this.conn = conn;
    this.auth = auth;
    return { conn, auth, reused: false };
  }

  /** One request, answered by the first store that can (see the class). */
  request(fields: RequestFields): Promise<OkResponse> {
    const run = this.queue.then(() => this.failOver(fields));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async failOver(fields: RequestFields): Promise<OkResponse> {
    const deadline = Date.now() + this.config.timeout * 1000;
    const n = this.stores.length;
    const failures: string[] = [];
    let last: Krb5BridgeError | undefined;
    for (let k = 0; k < n; k++) {
      const i = (this.current + k) % n;
      const store = this.stores[i]!;
      // This store's share of what is left; the last one gets all of it.
      const until = Date.now() + (deadline - Date.now()) / (n - k);
      try {
        const resp = await this.exchange(store, fields, until);
        this.current = i;
        return resp;
      } catch (e) {
        if (!isKrb5BridgeError(e) || !FAIL_OVER.has(e.code) || n === 1) throw e;
        this.close();
        last = e;
        failures.push(`${store} (${e.code}: ${e.detail ?? e.message})`);
        if (k + 1 < n) trace(`${fields.op}: store ${store} failed (${e.code}); trying ${this.stores[(i + 1) % n]}`);
      }
    }
    throw new Krb5BridgeError(last!.code, `no store could answer; tried ${failures.join(', ')}`, { cause: last });
  }

  /** The request to `store` until `deadline`, again once on a fresh connection if a kept one was closed meanwhile. */
  private async exchange(store: string, fields: RequestFields, deadline: number): Promise<OkResponse> {
    if (this.conn && this.stores[this.current] !== store) this.close();
    const nonce = randomBytes(8).toString('hex');
    const payload = Buffer.from(JSON.stringify({ v: 1, nonce, ...fields }), 'utf8');
    for (;;) {
      const { conn, auth, reused } = await this.open(store, fields.op, deadline);
      let plain: Buffer;
      try {
        const sealed = await auth.seal(payload);
        trace(`${fields.op}: sending ${sealed.length}-byte request to ${store}`);
        plain = await auth.open(await conn.request(sealed, deadline));
      } catch (e) {
        this.close();
        if (reused && isKrb5BridgeError(e) && e.code === 'E_STORE_CLOSED') {
          trace(`${fields.op}: store ${store} had closed the kept connection; opening a new one`);
          continue;
        }
        throw e;
      }
      return this.answer(store, fields.op, nonce, plain);
    }
  }

  /** The store's answer to our request `nonce`: its fields, or the error it gave (thrown). */
  private answer(store: string, op: string, nonce: string, plain: Buffer): OkResponse {
    const resp = parseResponse(plain);
    if (!resp.ok) {
      // A store error with the zero nonce answers a request the store could not read at all; it closes.
      if (resp.nonce === '0000000000000000') this.close();
      else if (resp.nonce !== nonce) throw nonceMismatch(store);
      const code: ErrorCode = Object.prototype.hasOwnProperty.call(ERRORS, resp.code) ? (resp.code as ErrorCode) : 'E_PROTOCOL';
      trace(`${op}: store answered ${resp.code}`);
      throw new Krb5BridgeError(code, `store ${store}: ${resp.message}`);
    }
    if (resp.nonce !== nonce) throw nonceMismatch(store);
    trace(`${op}: store answered ok`);
    return resp;
  }

  close(): void {
    this.conn?.close();
    this.conn = undefined;
    this.auth?.close();
    this.auth = undefined;
  }
}

function nonceMismatch(store: string): Krb5BridgeError {
  return new Krb5BridgeError('E_AUTH', `the answer of ${store} does not carry this request's nonce (a replayed or misrouted answer)`);
}

async function once(config: Config, fields: RequestFields, who?: ClientRole): Promise<OkResponse> {
  const s = new StoreSession(config, who);
  try {
    return await s.request(fields);
  } finally {
    s.close();
  }
}

function str(resp: OkResponse, key: string, max = 4096): string {
  const v = resp[key];
  if (typeof v !== 'string' || v.length > max) throw new Krb5BridgeError('E_PROTOCOL', `answer field "${key}" is missing or not a string`);
  return v;
}

function num(resp: OkResponse, key: string): number {
  const v = resp[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Krb5BridgeError('E_PROTOCOL', `answer field "${key}" is missing or not a number`);
  return v;
}

/** fetch (root): uid's stored KRB-CRED. */
/**
 * fetch (root on a node): uid's stored KRB-CRED for job `job` (a job-bound store releases it only
 * while that job of uid runs on this node). The third argument may instead be a session (benchmarks).
 */
export async function fetchCreds(config: Config, uid: number, jobOrSession?: string | StoreSession, session?: StoreSession): Promise<{ krbcred: Buffer; principal: string; endtime: number }> {
  const job = typeof jobOrSession === 'string' ? jobOrSession : undefined;
  const s = jobOrSession instanceof StoreSession ? jobOrSession : session;
  const fields: RequestFields = job === undefined ? { op: 'fetch', uid } : { op: 'fetch', uid, job };
  const resp = s ? await s.request(fields) : await once(config, fields);
  const b64 = str(resp, 'creds', 1024 * 1024);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new Krb5BridgeError('E_PROTOCOL', 'answer field "creds" is not base64');
  return { krbcred: Buffer.from(b64, 'base64'), principal: str(resp, 'principal'), endtime: num(resp, 'endtime') };
}

export interface PushResult {
  action: 'stored' | 'kept';
  principal: string;
  endtime: number;
}

/** push (the user): store our KRB-CRED; `force` replaces even a fresher stored ticket. */
/** krb5 mode authenticates with `opts.ccache` (the ccache the TGT came from; default: the default ccache). */
export async function pushCreds(config: Config, krbcred: Buffer, opts: { force?: boolean; ccache?: string | undefined } = {}): Promise<PushResult> {
  const fields: RequestFields = { op: 'push', creds: krbcred.toString('base64'), ...(opts.force ? { force: true } : {}) };
  const resp = await once(config, fields, { role: 'user', ccache: opts.ccache });
  const action = resp.action;
  if (action !== 'stored' && action !== 'kept') throw new Krb5BridgeError('E_PROTOCOL', `answer field "action" is ${JSON.stringify(action)}`);
  return { action, principal: str(resp, 'principal'), endtime: num(resp, 'endtime') };
}

export interface PingResult {
  uid: number;
  gid: number;
  version: string;
  /** The store's storage refuses writes: what, since when (absent when all is well). */
  storage?: string;
}

/** ping: the store's version and who it authenticated; `who` picks the krb5 identity (doctor as root: the host keytab). */
export async function ping(config: Config, who?: ClientRole): Promise<PingResult> {
  const resp = await once(config, { op: 'ping' }, who);
  const r: PingResult = { uid: num(resp, 'uid'), gid: num(resp, 'gid'), version: str(resp, 'version', 100) };
  if (resp.storage !== undefined) r.storage = str(resp, 'storage');
  return r;
}

export async function removeCreds(config: Config, uid?: number): Promise<{ uid: number; principal: string }> {
  const resp = await once(config, uid === undefined ? { op: 'remove' } : { op: 'remove', uid });
  return { uid: num(resp, 'uid'), principal: str(resp, 'principal') };
}

export async function listCreds(config: Config): Promise<RecordInfo[]> {
  const resp = await once(config, { op: 'list' });
  if (!Array.isArray(resp.records)) throw new Krb5BridgeError('E_PROTOCOL', 'answer field "records" is not a list');
  return resp.records.map(parseRecordInfo);
}

/** show: uid's stored record; `who` picks the krb5 identity (the gateway: the user's session ccache). */
export async function showCreds(config: Config, uid: number, who?: ClientRole): Promise<RecordInfo> {
  const resp = await once(config, { op: 'show', uid }, who);
  return parseRecordInfo(resp.record);
}

/** rotate (admin): the store re-encrypts every record with a new key. */
export async function rotateStoreKey(config: Config): Promise<{ keyId: number; rewritten: number; total: number }> {
  const resp = await once(config, { op: 'rotate' });
  return { keyId: num(resp, 'key_id'), rewritten: num(resp, 'rewritten'), total: num(resp, 'total') };
}
