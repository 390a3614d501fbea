/**
 * The store's messages (docs/internals.md, "Wire protocol"): the JSON requests and responses that
 * frames carry once the mechanism (wire/auth) has authenticated them. Everything here is pure: no
 * sockets, no munge. Requests come from anyone who can connect, so they are parsed with a strict
 * schema into null-prototype objects, every field bounded, unknown ops and fields refused.
 */
import { Krb5BridgeError } from '../errors';
import { MAX_FRAME } from './frame';

export const PROTOCOL_VERSION = 1;
/** Largest base64 KRB-CRED in a push: what fits in a frame once munge has wrapped it. */
export const MAX_CREDS_B64 = 700 * 1024;
export const MAX_UID = 4294967294;

export const OPS = ['push', 'fetch', 'remove', 'ping', 'list', 'show', 'rotate'] as const;
export type Op = (typeof OPS)[number];

export type Request =
  | { v: 1; op: 'push'; nonce: string; creds: string; force?: boolean }
  | { v: 1; op: 'fetch'; nonce: string; uid: number; job?: string }
  | { v: 1; op: 'show'; nonce: string; uid: number }
  | { v: 1; op: 'remove'; nonce: string; uid?: number }
  | { v: 1; op: 'ping'; nonce: string }
  | { v: 1; op: 'list'; nonce: string }
  | { v: 1; op: 'rotate'; nonce: string };

/** What list/show tell about a stored credential: never the ticket itself. */
export interface RecordInfo {
  uid: number;
  principal: string;
  authtime: number;
  endtime: number;
  renew_till: number;
  stored_at: number;
}

export interface OkResponse {
  v: 1;
  nonce: string;
  ok: true;
  [field: string]: unknown;
}

export interface ErrorResponse {
  v: 1;
  nonce: string;
  ok: false;
  code: string;
  message: string;
}

export type Response = OkResponse | ErrorResponse;

// ---------------------------------------------------------------- JSON schema

const NONCE = /^[0-9a-f]{16}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function protocolError(detail: string): Krb5BridgeError {
  return new Krb5BridgeError('E_PROTOCOL', detail);
}

/** JSON text -> an object with own keys only, copied into a null-prototype object. */
export function parseJsonObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw protocolError(`${what} is not JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw protocolError(`${what} is not a JSON object`);
  const out: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(value)) out[key] = (value as Record<string, unknown>)[key];
  return out;
}

function checkFields(obj: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw protocolError(`${what}: unknown field ${JSON.stringify(key.slice(0, 40))}`);
  }
}

function uidField(obj: Record<string, unknown>, key: string, what: string): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_UID) throw protocolError(`${what}: "${key}" must be a uid (0..${MAX_UID})`);
  return v;
}

const REQUEST_FIELDS: Record<Op, readonly string[]> = {
  push: ['v', 'op', 'nonce', 'creds', 'force'],
  fetch: ['v', 'op', 'nonce', 'uid', 'job'],
  show: ['v', 'op', 'nonce', 'uid'],
  remove: ['v', 'op', 'nonce', 'uid'],
  ping: ['v', 'op', 'nonce'],
  list: ['v', 'op', 'nonce'],
  rotate: ['v', 'op', 'nonce'],
};

/** A request payload (the munge credential's payload) -> a validated Request. */
export function parseRequest(payload: Buffer): Request {
  if (payload.length > MAX_FRAME) throw new Krb5BridgeError('E_TOO_LARGE', `request of ${payload.length} bytes`);
  const obj = parseJsonObject(payload.toString('utf8'), 'request');
  if (obj.v !== PROTOCOL_VERSION) throw protocolError(`request: unsupported protocol version ${JSON.stringify(obj.v)}; expected ${PROTOCOL_VERSION}`);
  const op = obj.op;
  if (typeof op !== 'string' || !(OPS as readonly string[]).includes(op)) {
    throw protocolError(`request: unknown op ${JSON.stringify(typeof op === 'string' ? op.slice(0, 20) : op)}`);
  }
  const what = `${op} request`;
  checkFields(obj, REQUEST_FIELDS[op as Op], what);
  const nonce = obj.nonce;
  if (typeof nonce !== 'string' || !NONCE.test(nonce)) throw protocolError(`${what}: "nonce" must be 16 lowercase hex digits`);
  const req: Record<string, unknown> = Object.create(null);
  req.v = 1;
  req.op = op;
  req.nonce = nonce;
  switch (op as Op) {
    case 'push': {
      const creds = obj.creds;
      if (typeof creds !== 'string' || creds.length === 0 || creds.length > MAX_CREDS_B64 || !BASE64.test(creds)) {
        throw protocolError(`${what}: "creds" must be base64 of at most ${MAX_CREDS_B64} characters`);
      }
      req.creds = creds;
      if ('force' in obj) {
        if (typeof obj.force !== 'boolean') throw protocolError(`${what}: "force" must be a boolean`);
        req.force = obj.force;
      }
      break;
    }
    case 'fetch':
      req.uid = uidField(obj, 'uid', what);
      // The Slurm job the credential is for (job-bound fetch); digits only, it reaches squeue's argv.
      if ('job' in obj) {
        if (typeof obj.job !== 'string' || !/^[1-9]\d{0,9}$/.test(obj.job) || Number(obj.job) > 4294967294) throw protocolError(`${what}: "job" must be a Slurm job id (digits)`);
        req.job = obj.job;
      }
      break;
    case 'show':
      req.uid = uidField(obj, 'uid', what);
      break;
    case 'remove':
      if ('uid' in obj) req.uid = uidField(obj, 'uid', what);
      break;
    case 'ping':
    case 'list':
    case 'rotate':
      break;
  }
  return req as unknown as Request;
}

export function newNonce(random: (n: number) => Buffer): string {
  return random(8).toString('hex');
}

// ---------------------------------------------------------------- responses

export function okResponse(nonce: string, fields: Record<string, unknown>): OkResponse {
  return { v: 1, nonce, ok: true, ...fields };
}

export function errorResponse(nonce: string, code: string, message: string): ErrorResponse {
  return { v: 1, nonce, ok: false, code, message };
}

const RESPONSE_FIELDS = [
  'v', 'nonce', 'ok', 'code', 'message', 'action', 'principal', 'endtime', 'creds', 'uid', 'gid', 'version', 'records', 'record', 'removed',
  'key_id', 'rewritten', 'total', 'storage',
];

/** A response payload -> a validated Response (the client's side; the store is authenticated by munge). */
export function parseResponse(payload: Buffer): Response {
  const obj = parseJsonObject(payload.toString('utf8'), 'response');
  checkFields(obj, RESPONSE_FIELDS, 'response');
  if (obj.v !== PROTOCOL_VERSION) throw protocolError(`response: unsupported protocol version ${JSON.stringify(obj.v)}`);
  if (typeof obj.nonce !== 'string' || obj.nonce.length > 64) throw protocolError('response: bad "nonce"');
  if (obj.ok === true) return obj as unknown as OkResponse;
  if (obj.ok !== false || typeof obj.code !== 'string' || typeof obj.message !== 'string') {
    throw protocolError('response: neither a success nor an error');
  }
  if (!/^E_[A-Z_]{1,40}$/.test(obj.code) || obj.message.length > 4096) throw protocolError('response: bad error code or message');
  return obj as unknown as ErrorResponse;
}

/** A RecordInfo from a response, checked field by field. */
export function parseRecordInfo(value: unknown): RecordInfo {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw protocolError('response: record is not an object');
  const v = value as Record<string, unknown>;
  const num = (k: string): number => {
    const n = v[k];
    if (typeof n !== 'number' || !Number.isFinite(n)) throw protocolError(`response: record field "${k}" is not a number`);
    return n;
  };
  if (typeof v.principal !== 'string' || v.principal.length > 1024) throw protocolError('response: record field "principal" is not a string');
  return {
    uid: num('uid'),
    principal: v.principal,
    authtime: num('authtime'),
    endtime: num('endtime'),
    renew_till: num('renew_till'),
    stored_at: num('stored_at'),
  };
}
