/**
 * One function per request op. The caller is who the transport says sent the request; the fixed
 * rules (rules.ts), the site policy (acl.ts) and the job check (jobcheck.ts) decide; the state and
 * files change here. Each request leaves one log line (uid, principal, op, result) and one audit
 * line, never ticket bytes.
 */
import { Krb5BridgeError, isKrb5BridgeError } from '../errors';
import { anameToLocalname, parseKrbCred, primaryTgt } from '../krb5';
import { Environment, Policy, Role, Subject, banOf, decide } from './acl';
import { Audit, noAudit } from './audit';
import { JobChecker } from './jobcheck';
import { StatePaths, deleteRecord, writeRecord } from './persist';
import { Request, Response, errorResponse, okResponse } from './protocol';
import type { RotateResult } from './rotate';
import * as rules from './rules';
import { CredRecord, CredState, recordInfo } from './state';

/**
 * Who sent a request, as the transport authenticated it (never fields of the request itself).
 * munge: uid/gid from munge_decode, host = addr = the peer's IP address from the socket.
 * krb5: uid from the authenticated principal's local name, principal set; host = the
 * authenticated host principal's host name when a node's host key was used, else the peer address.
 */
export interface Caller {
  uid: number;
  gid: number;
  mech: 'munge' | 'krb5';
  /** The authenticated Kerberos principal (krb5 mode only). */
  principal?: string;
  /** The peer's address, or (krb5 mode, host keytab) the authenticated host principal's host. */
  host?: string;
  /** The peer's IP address as the socket saw it (both modes); host rules and node identity use it. */
  addr?: string;
}

export interface HandlerDeps {
  state: CredState;
  paths: StatePaths;
  minUid: number;
  version: string;
  /** Local user name -> uid (the passwd database). */
  resolveUid: (name: string) => Promise<number | undefined>;
  /** Unix seconds. */
  now: () => number;
  log: (line: string) => void;
  /** The site policy (acl.defaultPolicy(minUid) when no file is given). */
  policy: Policy;
  /** Group and host lookups for the policy. */
  aclEnv: Environment;
  /** Job-bound fetch; undefined = off (any node role may fetch any stored credential). */
  jobs?: JobChecker | undefined;
  audit?: Audit;
  /** Key rotation (admin op `rotate`); undefined = not offered. */
  rotate?: () => Promise<RotateResult>;
}

type Fields = Record<string, unknown>;

/** What a request did, for the log and audit lines. */
interface Note {
  principal?: string;
  target?: number;
  job?: string;
  rule?: string;
}

/** Serialises the writes of one uid, so two pushes cannot interleave their rename and memory update. */
class UidLocks {
  private readonly tails = new Map<number, Promise<unknown>>();

  run<T>(uid: number, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(uid) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.tails.set(uid, tail);
    void tail.then(() => {
      if (this.tails.get(uid) === tail) this.tails.delete(uid);
    });
    return next;
  }
}

/** Refusals (the caller may not) versus failures (the store could not). */
const REFUSALS = new Set(['E_PERMISSION', 'E_UID_REFUSED', 'E_PRINCIPAL_MISMATCH', 'E_NO_JOB', 'E_NOT_FOUND', 'E_TICKET_EXPIRED', 'E_NO_TGT', 'E_PROTOCOL', 'E_AUTH', 'E_TOO_LARGE', 'E_KRB5']);

export class Handlers {
  private readonly locks = new UidLocks();
  private readonly audit: Audit;

  constructor(private readonly d: HandlerDeps) {
    this.audit = d.audit ?? noAudit;
  }

  /** Answer one request; refusals become error responses, never exceptions. */
  async handle(caller: Caller, req: Request): Promise<Response> {
    const note: Note = {};
    try {
      const fields = await this.dispatch(caller, req, note);
      this.d.log(logLine(req.op, caller, note, `ok${fields.action ? ` ${String(fields.action)}` : ''}`));
      if (req.op !== 'ping') this.auditEvent(req.op, caller, note, 'ok', undefined, fields.action === undefined ? (fields.key_id === undefined ? undefined : String(fields.key_id)) : String(fields.action));
      return okResponse(req.nonce, fields);
    } catch (e) {
      const err = isKrb5BridgeError(e) ? e : new Krb5BridgeError('E_INTERNAL', e instanceof Error ? e.message : String(e), { cause: e });
      this.d.log(logLine(req.op, caller, note, `${err.code} ${err.detail ?? ''}`.trim()));
      this.auditEvent(req.op, caller, note, REFUSALS.has(err.code) ? 'refused' : 'error', err.code);
      return errorResponse(req.nonce, err.code, err.detail ?? err.message);
    }
  }

  private auditEvent(op: string, caller: Caller, note: Note, result: 'ok' | 'refused' | 'error', code?: string, action?: string): void {
    this.audit.record({
      op,
      result,
      code,
      uid: caller.uid,
      principal: caller.principal ?? note.principal,
      host: caller.host ?? caller.addr,
      job: note.job,
      target_uid: note.target !== undefined && note.target !== caller.uid ? note.target : undefined,
      mech: caller.mech,
      action,
      rule: note.rule,
    });
  }

  private dispatch(caller: Caller, req: Request, note: Note): Promise<Fields> {
    switch (req.op) {
      case 'push':
        return this.push(caller, req.creds, req.force === true, note);
      case 'fetch':
        note.target = req.uid;
        note.job = req.job;
        return this.fetch(caller, req.uid, req.job, note);
      case 'show':
        note.target = req.uid;
        return this.show(caller, req.uid, note);
      case 'list':
        return this.list(caller, note);
      case 'remove':
        note.target = req.uid ?? caller.uid;
        return this.remove(caller, req.uid ?? caller.uid, note);
      case 'rotate':
        return this.rotateKey(caller, note);
      case 'ping':
        return Promise.resolve({ uid: caller.uid, gid: caller.gid, version: this.d.version });
    }
  }

  private subject(caller: Caller, extraPrincipal?: string): Subject {
    const principals = [caller.principal, extraPrincipal].filter((p): p is string => p !== undefined);
    return { uid: caller.uid, principals, addr: caller.addr, host: caller.host };
  }

  /** Refuse (E_PERMISSION) unless the policy gives `caller` the role; `what` says what was asked. */
  private async authorize(caller: Caller, role: Role, what: string, note: Note, extraPrincipal?: string): Promise<void> {
    const decision = await decide(this.d.policy, this.subject(caller, extraPrincipal), role, this.d.aclEnv);
    if (decision.rule) note.rule = decision.rule.where;
    if (!decision.allowed) {
      const from = caller.host ?? caller.addr;
      throw new Krb5BridgeError('E_PERMISSION', `uid ${caller.uid}${caller.principal ? ` (${caller.principal})` : ''}${from ? ` from ${from}` : ''} may not ${what}: ${decision.reason}`);
    }
  }

  private async push(caller: Caller, b64: string, force: boolean, note: Note): Promise<Fields> {
    rules.checkPushUid(caller.uid, this.d.minUid);
    const krbcred = Buffer.from(b64, 'base64');
    const parsed = parseKrbCred(krbcred);
    note.principal = parsed.principal;
    rules.checkSingleClient(parsed.principal, parsed.tickets.map((t) => t.client));
    if (caller.principal !== undefined) rules.checkAuthenticatedPrincipal(caller.principal, parsed.principal);
    const tgt = primaryTgt(parsed);
    if (!tgt.server.startsWith('krbtgt/')) throw new Krb5BridgeError('E_NO_TGT', `the credential of ${parsed.principal} holds no TGT (only ${tgt.server})`);
    const localName = anameToLocalname(parsed.principal);
    const localUid = localName === undefined ? undefined : await this.d.resolveUid(localName);
    rules.checkPrincipalBinding(caller.uid, parsed.principal, localName, localUid);
    // The ticket's principal is now proven to be the caller's: principal rules and bans apply to it.
    await this.authorize(caller, 'user', `store credentials of ${parsed.principal}`, note, parsed.principal);
    rules.checkNotExpired(parsed.principal, tgt.endtime, this.d.now());
    return this.locks.run(caller.uid, async () => {
      const stored = this.d.state.get(caller.uid);
      if (!force && !rules.isFresher(tgt, stored)) {
        return { action: 'kept', principal: stored!.principal, endtime: stored!.endtime };
      }
      const record: CredRecord = {
        uid: caller.uid,
        principal: parsed.principal,
        endtime: tgt.endtime,
        renew_till: tgt.renew_till,
        authtime: tgt.authtime,
        stored_at: this.d.now(),
        creds: krbcred.toString('base64'),
      };
      // Durable before acknowledged: a crash after the answer never loses the ticket.
      await writeRecord(this.d.paths, record);
      this.d.state.set(record);
      return { action: 'stored', principal: record.principal, endtime: record.endtime };
    });
  }

  private async fetch(caller: Caller, uid: number, job: string | undefined, note: Note): Promise<Fields> {
    await this.authorize(caller, 'node', `fetch credentials (of uid ${uid})`, note);
    const r = this.d.state.get(uid);
    if (!r) throw new Krb5BridgeError('E_NOT_FOUND', `no credential stored for uid ${uid}`);
    note.principal = r.principal;
    // A banned user's stored ticket is never handed out, whoever asks.
    const ban = await banOf(this.d.policy, { uid, principals: [r.principal] }, this.d.aclEnv);
    if (ban) {
      note.rule = ban.where;
      throw new Krb5BridgeError('E_PERMISSION', `the credential of uid ${uid} (${r.principal}) is banned by ${ban.where} (${ban.text})`);
    }
    if (this.d.jobs) await this.d.jobs.check(uid, job, { addr: caller.addr, hostName: caller.mech === 'krb5' ? caller.host : undefined });
    rules.checkNotExpired(r.principal, r.endtime, this.d.now());
    return { uid, principal: r.principal, endtime: r.endtime, creds: r.creds };
  }

  /** Own records need role user; anyone else's, admin. */
  private async ownOrAdmin(caller: Caller, uid: number, what: string, note: Note): Promise<void> {
    await this.authorize(caller, caller.uid === uid ? 'user' : 'admin', what, note);
  }

  private async show(caller: Caller, uid: number, note: Note): Promise<Fields> {
    await this.ownOrAdmin(caller, uid, `see the record of uid ${uid}`, note);
    const r = this.d.state.get(uid);
    if (!r) throw new Krb5BridgeError('E_NOT_FOUND', `no credential stored for uid ${uid}`);
    return { record: recordInfo(r) };
  }

  private async list(caller: Caller, note: Note): Promise<Fields> {
    const admin = await decide(this.d.policy, this.subject(caller), 'admin', this.d.aclEnv);
    if (admin.allowed) return { records: this.d.state.all().map(recordInfo) };
    await this.authorize(caller, 'user', 'list records', note);
    const own = this.d.state.get(caller.uid);
    return { records: own ? [recordInfo(own)] : [] };
  }

  private async remove(caller: Caller, uid: number, note: Note): Promise<Fields> {
    await this.ownOrAdmin(caller, uid, `remove the credential of uid ${uid}`, note);
    return this.locks.run(uid, async () => {
      const r = this.d.state.get(uid);
      if (!r) throw new Krb5BridgeError('E_NOT_FOUND', `no credential stored for uid ${uid}`);
      note.principal = r.principal;
      await deleteRecord(this.d.paths, uid);
      this.d.state.delete(uid);
      return { removed: true, uid, principal: r.principal };
    });
  }

  private async rotateKey(caller: Caller, note: Note): Promise<Fields> {
    await this.authorize(caller, 'admin', 'rotate the store key', note);
    if (!this.d.rotate) throw new Krb5BridgeError('E_PERMISSION', 'this store offers no key rotation');
    const r = await this.d.rotate();
    return { key_id: r.id, rewritten: r.rewritten, total: r.total };
  }
}

function logLine(op: string, caller: Caller, note: Note, result: string): string {
  const parts = [`op=${op}`, `uid=${caller.uid}`];
  if (note.target !== undefined && note.target !== caller.uid) parts.push(`target=${note.target}`);
  if (note.principal !== undefined) parts.push(`principal=${note.principal}`);
  if (note.job !== undefined) parts.push(`job=${note.job}`);
  parts.push(`result=${result}`);
  return parts.join(' ');
}
