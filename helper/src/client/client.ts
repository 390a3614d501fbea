/**
 * The store client: each request is a munge credential restricted to `store_uid` (only the store
 * can read it); each answer must be a munge credential made by `store_uid` and carry our nonce,
 * which authenticates the store and binds the answer to the question.
 */
import { randomBytes } from 'node:crypto';
import { ERRORS, ErrorCode, Krb5BridgeError, isKrb5BridgeError } from '../errors';
import type { Config } from '../config/config';
import { mungeDecode, mungeEncode } from '../munge';
import { OkResponse, RecordInfo, parseRecordInfo, parseResponse } from '../store/protocol';
import { trace } from '../util/log';
import { StoreConnection } from './connection';

export type RequestFields =
  | { op: 'push'; creds: string; force?: boolean }
  | { op: 'fetch' | 'show'; uid: number }
  | { op: 'remove'; uid?: number }
  | { op: 'ping' | 'list' };

/** A connection that can carry several requests (one at a time); `request` opens it on first use. */
export class StoreSession {
  private conn: StoreConnection | undefined;

  constructor(private readonly config: Config) {}

  async request(fields: RequestFields): Promise<OkResponse> {
    const { config } = this;
    const deadline = Date.now() + config.timeout * 1000;
    const nonce = randomBytes(8).toString('hex');
    const payload = Buffer.from(JSON.stringify({ v: 1, nonce, ...fields }), 'utf8');
    const cred = await mungeEncode(payload, { socket: config.munge_socket, uidRestriction: config.store_uid });
    if (!this.conn) {
      trace(`connecting to store ${config.store}`);
      this.conn = await StoreConnection.connect(config.store, deadline);
    }
    trace(`${fields.op}: sending ${cred.length}-byte request`);
    let body: Buffer;
    try {
      body = await this.conn.request(Buffer.from(cred, 'latin1'), deadline);
    } catch (e) {
      this.close();
      throw e;
    }
    let decoded;
    try {
      decoded = await mungeDecode(body.toString('latin1'), { socket: config.munge_socket });
    } catch (e) {
      if (isKrb5BridgeError(e) && e.code === 'E_AUTH') {
        throw new Krb5BridgeError('E_AUTH', `the answer of ${config.store} is not a valid munge credential for you: ${e.detail ?? e.message}`, { cause: e });
      }
      throw e;
    }
    if (decoded.uid !== config.store_uid) {
      throw new Krb5BridgeError('E_AUTH', `the answer of ${config.store} was made by uid ${decoded.uid}, not store_uid ${config.store_uid}; is something else listening there?`);
    }
    const resp = parseResponse(decoded.payload);
    if (!resp.ok) {
      // A store error with the zero nonce answers a request the store could not read at all.
      if (resp.nonce !== nonce && resp.nonce !== '0000000000000000') throw nonceMismatch(config.store);
      const code: ErrorCode = Object.prototype.hasOwnProperty.call(ERRORS, resp.code) ? (resp.code as ErrorCode) : 'E_PROTOCOL';
      trace(`${fields.op}: store answered ${resp.code}`);
      throw new Krb5BridgeError(code, `store ${config.store}: ${resp.message}`);
    }
    if (resp.nonce !== nonce) throw nonceMismatch(config.store);
    trace(`${fields.op}: store answered ok`);
    return resp;
  }

  close(): void {
    this.conn?.close();
    this.conn = undefined;
  }
}

function nonceMismatch(store: string): Krb5BridgeError {
  return new Krb5BridgeError('E_AUTH', `the answer of ${store} does not carry this request's nonce (a replayed or misrouted answer)`);
}

async function once(config: Config, fields: RequestFields): Promise<OkResponse> {
  const s = new StoreSession(config);
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
export async function fetchCreds(config: Config, uid: number, session?: StoreSession): Promise<{ krbcred: Buffer; principal: string; endtime: number }> {
  const resp = session ? await session.request({ op: 'fetch', uid }) : await once(config, { op: 'fetch', uid });
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
export async function pushCreds(config: Config, krbcred: Buffer, opts: { force?: boolean } = {}): Promise<PushResult> {
  const fields: RequestFields = { op: 'push', creds: krbcred.toString('base64'), ...(opts.force ? { force: true } : {}) };
  const resp = await once(config, fields);
  const action = resp.action;
  if (action !== 'stored' && action !== 'kept') throw new Krb5BridgeError('E_PROTOCOL', `answer field "action" is ${JSON.stringify(action)}`);
  return { action, principal: str(resp, 'principal'), endtime: num(resp, 'endtime') };
}

export interface PingResult {
  uid: number;
  gid: number;
  version: string;
}

export async function ping(config: Config): Promise<PingResult> {
  const resp = await once(config, { op: 'ping' });
  return { uid: num(resp, 'uid'), gid: num(resp, 'gid'), version: str(resp, 'version', 100) };
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

export async function showCreds(config: Config, uid: number): Promise<RecordInfo> {
  const resp = await once(config, { op: 'show', uid });
  return parseRecordInfo(resp.record);
}
