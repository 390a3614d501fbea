/**
 * POST /api/v1/login with {username, password}: the guard first (lockout, per-user rate), then
 * the KDC (krb5/password.ts: get and verify the TGT off the event loop), then establish.ts. A
 * wrong password and an unknown user are one answer (E_LOGIN_FAILED, 401) and count alike
 * against the lockout. The password goes nowhere but into libkrb5.
 */
import { Krb5BridgeError } from '../errors';
import { KdcLogin, LOGIN_NAME } from '../krb5/password';
import type { Audit } from '../audit/audit';
import { EstablishDeps, Established, establish } from './establish';
import type { LoginGuard } from './lockout';

export interface PasswordDeps extends EstablishDeps {
  kdc: KdcLogin;
  guard: LoginGuard;
  audit: Audit;
}

/** Thrown for 429s: the error plus the seconds for Retry-After. */
export class RetryLater extends Krb5BridgeError {
  constructor(
    code: 'E_LOCKED_OUT' | 'E_RATE_LIMITED',
    readonly retryAfter: number,
    detail: string,
  ) {
    super(code, detail);
  }
}

/** The name as the audit log may show it: a name that is not a plain user name may be a mistyped password. */
export function auditName(username: string): string {
  return LOGIN_NAME.test(username) ? username : '(not a user name)';
}

export async function passwordLogin(deps: PasswordDeps, username: string, password: string, addr: string): Promise<Established> {
  const verdict = deps.guard.attempt(username, addr);
  if (!verdict.ok) {
    deps.audit.record({ op: 'login', result: 'refused', code: verdict.code, principal: auditName(username), host: addr, mech: 'password', rule: verdict.key.startsWith('addr:') ? 'address' : 'user' });
    const whom = verdict.key.startsWith('addr:') ? 'from this address' : 'for this user';
    throw new RetryLater(verdict.code, verdict.retryAfter, verdict.code === 'E_LOCKED_OUT' ? `logins ${whom} are locked for ${verdict.retryAfter} s` : `too many logins ${whom}; wait ${verdict.retryAfter} s`);
  }
  let established: Established;
  try {
    const t = await deps.kdc.password(username, password);
    deps.guard.succeeded(username);
    established = await establish(deps, t, 'password');
  } catch (e) {
    if (e instanceof Krb5BridgeError && e.code === 'E_LOGIN_FAILED') deps.guard.failed(username, addr);
    deps.audit.record({ op: 'login', result: e instanceof Krb5BridgeError && e.code === 'E_LOGIN_FAILED' ? 'refused' : 'error', code: e instanceof Krb5BridgeError ? e.code : 'E_INTERNAL', principal: auditName(username), host: addr, mech: 'password' });
    throw e;
  }
  const s = established.session;
  deps.audit.record({ op: 'login', result: 'ok', uid: s.uid, principal: s.principal, host: addr, mech: 'password', action: established.action });
  return established;
}
