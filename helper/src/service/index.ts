/**
 * The store's service: one handler per request op (push.ts, fetch.ts, ...), each deciding through
 * the one Authorizer and changing only the records. This file dispatches, and leaves one log line
 * (op, uid, principal, result) and one audit line per request, never ticket bytes.
 */
import { Krb5BridgeError, isKrb5BridgeError } from '../errors';
import type { Audit } from '../audit/audit';
import type { Caller } from '../wire/auth';
import { Request, Response, errorResponse, okResponse } from '../wire/messages';
import type { Fields, Note, ServiceDeps } from './context';
import { fetch } from './fetch';
import { list } from './list';
import { ping } from './ping';
import { push } from './push';
import { remove } from './remove';
import { rotate } from './rotate';
import { show } from './show';

export type { ServiceDeps } from './context';

type Handler = (d: ServiceDeps, caller: Caller, req: never, note: Note) => Promise<Fields>;

const HANDLERS: Record<Request['op'], Handler> = { push, fetch, show, list, remove, rotate, ping };

/** Refusals (the caller may not) versus failures (the store could not), for the audit line. */
const REFUSALS = new Set(['E_PERMISSION', 'E_UID_REFUSED', 'E_PRINCIPAL_MISMATCH', 'E_NO_JOB', 'E_NOT_FOUND', 'E_TICKET_EXPIRED', 'E_NO_TGT', 'E_PROTOCOL', 'E_AUTH', 'E_TOO_LARGE', 'E_KRB5']);

export class Service {
  constructor(
    private readonly d: ServiceDeps,
    private readonly log: (line: string) => void,
    private readonly audit: Audit,
  ) {}

  /** Answer one request; refusals become error responses, never exceptions. */
  async handle(caller: Caller, req: Request): Promise<Response> {
    const note: Note = { started: performance.now() };
    const observe = (result: string): void => this.d.observe?.(req.op, result, (performance.now() - note.started!) / 1000);
    try {
      this.d.auth.checkMechanism(caller, req.op);
      const fields = await HANDLERS[req.op](this.d, caller, req as never, note);
      this.log(logLine(req.op, caller, note, `ok${note.action && req.op === 'push' ? ` ${note.action}` : ''}`));
      if (req.op !== 'ping') this.auditEvent(req.op, caller, note, 'ok');
      observe('ok');
      return okResponse(req.nonce, fields);
    } catch (e) {
      const err = isKrb5BridgeError(e) ? e : new Krb5BridgeError('E_INTERNAL', e instanceof Error ? e.message : String(e), { cause: e });
      this.log(logLine(req.op, caller, note, `${err.code} ${err.detail ?? ''}`.trim()));
      this.auditEvent(req.op, caller, note, REFUSALS.has(err.code) ? 'refused' : 'error', err.code);
      observe(err.code);
      return errorResponse(req.nonce, err.code, err.detail ?? err.message);
    }
  }

  private auditEvent(op: string, caller: Caller, note: Note, result: 'ok' | 'refused' | 'error', code?: string): void {
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
      action: result === 'ok' ? note.action : undefined,
      rule: note.rule,
    });
  }
}

/** `op= uid= [target=] [principal=] [job=] result=... ms=<handling> [jobcheck_ms=<of it, the job check>]`. */
function logLine(op: string, caller: Caller, note: Note, result: string): string {
  const parts = [`op=${op}`, `uid=${caller.uid}`];
  if (note.target !== undefined && note.target !== caller.uid) parts.push(`target=${note.target}`);
  if (note.principal !== undefined) parts.push(`principal=${note.principal}`);
  if (note.job !== undefined) parts.push(`job=${note.job}`);
  parts.push(`result=${result}`);
  if (note.started !== undefined) parts.push(`ms=${(performance.now() - note.started).toFixed(2)}`);
  if (note.jobCheckMs !== undefined) parts.push(`jobcheck_ms=${note.jobCheckMs.toFixed(2)}`);
  return parts.join(' ');
}
