/**
 * Failures as HTTP answers: the project's error registry (errors.ts) gives the code and the words;
 * this table gives each code its HTTP status. Every answer is `{code, message, remedy}`: what
 * happened, and what to do (the registry message's part after "; "). Never a stack trace: an
 * unexpected exception is E_INTERNAL with a generic message (the log has the details).
 */
import { ERRORS, ErrorCode, Krb5BridgeError, isKrb5BridgeError } from '../errors';

export const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  E_BAD_REQUEST: 400,
  E_SLURM_REFUSED: 400,
  E_LOGIN_FAILED: 401,
  E_SESSION: 401,
  E_NO_DELEGATION: 401,
  E_AUTH: 401,
  E_NO_ACCOUNT: 403,
  E_PERMISSION: 403,
  E_UID_REFUSED: 403,
  E_PRINCIPAL_MISMATCH: 403,
  E_NO_SUCH_JOB: 404,
  E_NOT_FOUND: 409,
  E_TICKET_EXPIRED: 409,
  E_NOT_RENEWABLE: 409,
  E_TOO_LARGE: 413,
  E_LOCKED_OUT: 429,
  E_RATE_LIMITED: 429,
  E_SLURMRESTD: 502,
  E_STORE_UNREACHABLE: 503,
  E_STORE_TIMEOUT: 503,
  E_STORE_CLOSED: 503,
  E_STORAGE: 503,
  E_KDC_UNREACHABLE: 503,
};

export function httpStatus(code: ErrorCode): number {
  return HTTP_STATUS[code] ?? 500;
}

export interface ErrorReply {
  code: ErrorCode;
  message: string;
  remedy: string;
}

/** What a laptop user can do, where the registry's remedy speaks to a login node or an operator. */
const REMEDY: Partial<Record<ErrorCode, string>> = {
  E_KDC_UNREACHABLE: 'try again in a minute; if it goes on, tell the site administrators',
  E_STORE_UNREACHABLE: 'try again in a minute; if it goes on, tell the site administrators (the credential store must run)',
  E_STORE_TIMEOUT: 'try again in a minute; if it goes on, tell the site administrators',
  E_STORE_CLOSED: 'try again in a minute',
  E_TOO_LARGE: 'send a smaller request (the message says the limit)',
  E_AUTH: 'log in with your user name and password, or with a valid Kerberos ticket',
  E_NOT_FOUND: 'log in again: the store holds no ticket for you any more',
  E_TICKET_EXPIRED: 'log in again',
  E_NOT_RENEWABLE: 'log in again',
};

/** The registry message split into what happened and what to do. */
export function splitMessage(code: ErrorCode): { what: string; remedy: string } {
  const m: string = ERRORS[code].message;
  const i = m.indexOf('; ');
  const what = i < 0 ? m : m.slice(0, i);
  return { what, remedy: REMEDY[code] ?? (i < 0 ? 'see the gateway log, or tell the site administrators' : m.slice(i + 2)) };
}

/** The JSON answer for an error (a Krb5BridgeError keeps its detail; anything else is E_INTERNAL). */
export function errorReply(e: unknown): { status: number; body: ErrorReply } {
  const err = isKrb5BridgeError(e) ? e : new Krb5BridgeError('E_INTERNAL');
  const { what, remedy } = splitMessage(err.code);
  const message = err.code === 'E_INTERNAL' ? what : err.detail ? `${what}: ${err.detail}` : what;
  return { status: httpStatus(err.code), body: { code: err.code, message, remedy } };
}
