/**
 * Every authorization decision of the store, in one place, per operation. Each method applies, in
 * this order and nowhere else:
 *   1. what the mechanism allows (a Kerberos host identity may only fetch and ping: rules.ts);
 *   2. the fixed rules no policy can relax (rules.ts: no root or system push, only your own ticket);
 *   3. the site policy (acl.ts: roles user, node, admin; bans; deny by default);
 *   4. for a fetch, the bans on the credential's owner and the job check (jobcheck.ts).
 * The caller is who the transport authenticated, never a field of the request. A refusal throws
 * the error the client sees; `note.rule` records the deciding policy rule for the log and audit.
 */
import { Krb5BridgeError } from '../errors';
import { anameToLocalname, primaryTgt, type TicketInfo } from '../krb5';
import type { Caller } from '../wire/auth';
import { isNodeIdentity } from '../wire/auth';
import { Environment, Policy, Role, Subject, banOf, decide } from './acl';
import type { JobChecker } from './jobcheck';
import * as rules from './rules';

export interface AuthorizerDeps {
  policy: Policy;
  /** Group and host lookups for the policy. */
  env: Environment;
  /** Job-bound fetch; undefined = off (any node role may fetch any stored credential). */
  jobs?: JobChecker | undefined;
  minUid: number;
  /** Local user name -> uid (the passwd database), for the principal binding rule. */
  uidOf: (name: string) => Promise<number | undefined>;
}

/** What a decision leaves for the request's log and audit lines. */
export interface DecisionNote {
  /** How long the job check took (ms), for the log line. */
  jobCheckMs?: number;
  /** The policy rule that decided (file:line, or "default policy rule N"). */
  rule?: string;
}

export class Authorizer {
  constructor(private readonly d: AuthorizerDeps) {}

  get policy(): Policy {
    return this.d.policy;
  }

  /** 1. A host identity may only fetch and ping; anything else is a user's or an admin's. */
  checkMechanism(caller: Caller, op: string): void {
    if (isNodeIdentity(caller)) rules.checkNodeIdentityOp(caller.principal ?? 'a host principal', op);
  }

  private subject(caller: Caller, extraPrincipal?: string): Subject {
    const principals = [caller.principal, extraPrincipal].filter((p): p is string => p !== undefined);
    return { uid: caller.uid, principals, addr: caller.addr, host: caller.host };
  }

  /** Does the policy give `caller` the role? (No refusal: `list` shows all to an admin, own records otherwise.) */
  async hasRole(caller: Caller, role: Role): Promise<boolean> {
    return (await decide(this.d.policy, this.subject(caller), role, this.d.env)).allowed;
  }

  /** 3. Refuse (E_PERMISSION) unless the policy gives `caller` the role; `what` says what was asked. */
  async requireRole(caller: Caller, role: Role, what: string, note: DecisionNote, extraPrincipal?: string): Promise<void> {
    const decision = await decide(this.d.policy, this.subject(caller, extraPrincipal), role, this.d.env);
    if (decision.rule) note.rule = decision.rule.where;
    if (!decision.allowed) {
      const from = caller.host ?? caller.addr;
      throw new Krb5BridgeError('E_PERMISSION', `uid ${caller.uid}${caller.principal ? ` (${caller.principal})` : ''}${from ? ` from ${from}` : ''} may not ${what}: ${decision.reason}`);
    }
  }

  /** Show or remove a record: your own needs role user, anyone else's admin. */
  async ownOrAdmin(caller: Caller, uid: number, what: string, note: DecisionNote): Promise<void> {
    await this.requireRole(caller, caller.uid === uid ? 'user' : 'admin', what, note);
  }

  /** Before a pushed ticket is even decoded: root and system accounts never push. */
  pushCaller(caller: Caller): void {
    rules.checkPushUid(caller.uid, this.d.minUid);
  }

  /**
   * A push of `ticket` (decoded from the request): the fixed rules, then role user (principal rules
   * and bans see the ticket's principal once it is proven the caller's). Returns the primary TGT.
   */
  async push(caller: Caller, ticket: { principal: string; tickets: TicketInfo[] }, now: number, note: DecisionNote): Promise<TicketInfo> {
    this.pushCaller(caller);
    rules.checkSingleClient(ticket.principal, ticket.tickets.map((t) => t.client));
    if (caller.principal !== undefined) rules.checkAuthenticatedPrincipal(caller.principal, ticket.principal);
    const tgt = primaryTgt(ticket);
    if (!tgt.server.startsWith('krbtgt/')) throw new Krb5BridgeError('E_NO_TGT', `the credential of ${ticket.principal} holds no TGT (only ${tgt.server})`);
    const localName = anameToLocalname(ticket.principal);
    const localUid = localName === undefined ? undefined : await this.d.uidOf(localName);
    rules.checkPrincipalBinding(caller.uid, ticket.principal, localName, localUid);
    await this.requireRole(caller, 'user', `store credentials of ${ticket.principal}`, note, ticket.principal);
    rules.checkNotExpired(ticket.principal, tgt.endtime, now);
    return tgt;
  }

  /** Before anything is looked up for a fetch: role node. */
  async fetchRole(caller: Caller, uid: number, note: DecisionNote): Promise<void> {
    await this.requireRole(caller, 'node', `fetch credentials (of uid ${uid})`, note);
  }

  /**
   * 4. Releasing uid's stored credential (of `principal`, ending `endtime`) to `caller` for `job`:
   * never a banned user's ticket, only to a node running that job (job-bound), never an expired one.
   */
  async release(caller: Caller, uid: number, stored: { principal: string; endtime: number }, job: string | undefined, now: number, note: DecisionNote): Promise<void> {
    const ban = await banOf(this.d.policy, { uid, principals: [stored.principal] }, this.d.env);
    if (ban) {
      note.rule = ban.where;
      throw new Krb5BridgeError('E_PERMISSION', `the credential of uid ${uid} (${stored.principal}) is banned by ${ban.where} (${ban.text})`);
    }
    if (this.d.jobs) {
      const t0 = performance.now();
      try {
        await this.d.jobs.check(uid, job, { addr: caller.addr, hostName: caller.mech === 'krb5' ? caller.host : undefined });
      } finally {
        note.jobCheckMs = performance.now() - t0;
      }
    }
    rules.checkNotExpired(stored.principal, stored.endtime, now);
  }
}
