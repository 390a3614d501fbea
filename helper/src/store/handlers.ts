/**
 * One function per request op. The caller is who munged says sent the request; the rules decide,
 * the state and files change here. Each request leaves one log line (uid, principal, op, result),
 * never ticket bytes.
 */
import { Krb5BridgeError, isKrb5BridgeError } from '../errors';
import { anameToLocalname, parseKrbCred, primaryTgt } from '../krb5';
import { StatePaths, deleteRecord, writeRecord } from './persist';
import { Request, Response, errorResponse, okResponse } from './protocol';
import * as rules from './rules';
import { CredRecord, CredState, recordInfo } from './state';

export interface Caller {
  uid: number;
  gid: number;
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
}

type Fields = Record<string, unknown>;

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

export class Handlers {
  private readonly locks = new UidLocks();

  constructor(private readonly d: HandlerDeps) {}

  /** Answer one request; refusals become error responses, never exceptions. */
  async handle(caller: Caller, req: Request): Promise<Response> {
    const note: { principal?: string; target?: number } = {};
    try {
      const fields = await this.dispatch(caller, req, note);
      this.d.log(logLine(req.op, caller, note, `ok${fields.action ? ` ${String(fields.action)}` : ''}`));
      return okResponse(req.nonce, fields);
    } catch (e) {
      const err = isKrb5BridgeError(e) ? e : new Krb5BridgeError('E_INTERNAL', e instanceof Error ? e.message : String(e), { cause: e });
      this.d.log(logLine(req.op, caller, note, `${err.code} ${err.detail ?? ''}`.trim()));
      return errorResponse(req.nonce, err.code, err.detail ?? err.message);
    }
  }

  private dispatch(caller: Caller, req: Request, note: { principal?: string; target?: number }): Promise<Fields> {
    switch (req.op) {
      case 'push':
        return this.push(caller, req.creds, req.force === true, note);
      case 'fetch':
        note.target = req.uid;
        return Promise.resolve(this.fetch(caller, req.uid, note));
      case 'show':
        note.target = req.uid;
        return Promise.resolve(this.show(caller, req.uid));
      case 'list':
        return Promise.resolve(this.list(caller));
      case 'remove':
        note.target = req.uid ?? caller.uid;
        return this.remove(caller, req.uid ?? caller.uid);
      case 'ping':
        return Promise.resolve({ uid: caller.uid, gid: caller.gid, version: this.d.version });
    }
  }

  private async push(caller: Caller, b64: string, force: boolean, note: { principal?: string }): Promise<Fields> {
    rules.checkPushUid(caller.uid, this.d.minUid);
    const krbcred = Buffer.from(b64, 'base64');
    const parsed = parseKrbCred(krbcred);
    note.principal = parsed.principal;
    rules.checkSingleClient(parsed.principal, parsed.tickets.map((t) => t.client));
    const tgt = primaryTgt(parsed);
    if (!tgt.server.startsWith('krbtgt/')) throw new Krb5BridgeError('E_NO_TGT', `the credential of ${parsed.principal} holds no TGT (only ${tgt.server})`);
    const localName = anameToLocalname(parsed.principal);
    const localUid = localName === undefined ? undefined : await this.d.resolveUid(localName);
    rules.checkPrincipalBinding(caller.uid, parsed.principal, localName, localUid);
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

  private fetch(caller: Caller, uid: number, note: { principal?: string }): Fields {
    rules.checkFetch(caller.uid, uid);
    const r = this.d.state.get(uid);
    if (!r) throw new Krb5BridgeError('E_NOT_FOUND', `no credential stored for uid ${uid}`);
    note.principal = r.principal;
    rules.checkNotExpired(r.principal, r.endtime, this.d.now());
    return { uid, principal: r.principal, endtime: r.endtime, creds: r.creds };
  }

  private show(caller: Caller, uid: number): Fields {
    rules.checkShow(caller.uid, uid);
    const r = this.d.state.get(uid);
    if (!r) throw new Krb5BridgeError('E_NOT_FOUND', `no credential stored for uid ${uid}`);
    return { record: recordInfo(r) };
  }

  private list(caller: Caller): Fields {
    const scope = rules.listScope(caller.uid);
    const records = this.d.state.all().filter((r) => scope === 'all' || r.uid === scope);
    return { records: records.map(recordInfo) };
  }

  private async remove(caller: Caller, uid: number): Promise<Fields> {
    rules.checkRemove(caller.uid, uid);
    return this.locks.run(uid, async () => {
      const r = this.d.state.get(uid);
      if (!r) throw new Krb5BridgeError('E_NOT_FOUND', `no credential stored for uid ${uid}`);
      await deleteRecord(this.d.paths, uid);
      this.d.state.delete(uid);
      return { removed: true, uid, principal: r.principal };
    });
  }
}

function logLine(op: string, caller: Caller, note: { principal?: string; target?: number }, result: string): string {
  const parts = [`op=${op}`, `uid=${caller.uid}`];
  if (note.target !== undefined && note.target !== caller.uid) parts.push(`target=${note.target}`);
  if (note.principal !== undefined) parts.push(`principal=${note.principal}`);
  parts.push(`result=${result}`);
  return parts.join(' ');
}
