/**
 * Where a fresher ticket for a user's jobs comes from: the store (which renews at the KDC for
 * everyone, once per user); only when the store cannot be reached, the KDC itself, renewing the
 * job's own ticket (once per user per cycle). When the store answers but has nothing better
 * (dropped, removed by an administrator), the keeper never goes to the KDC behind its back.
 */
import { Krb5BridgeError, isKrb5BridgeError, type ErrorCode } from '../errors';
import { parseKrbCred, primaryTgt, type RenewedTgt, type TicketInfo } from '../krb5';
import { isValidJobCcache } from '../node';
import { readJobCcache } from './ccread';
import type { Job } from './jobs';

export interface Fetched {
  krbcred: Buffer;
}

export interface SourceOptions {
  /** uid's credential from the store (E_STORE_UNREACHABLE / E_STORE_TIMEOUT when it cannot answer). */
  fetch: (uid: number, job: string) => Promise<Fetched>;
  /** Renew at the KDC (only when the store cannot be reached). */
  renew: (krbcred: Buffer) => Promise<RenewedTgt>;
}

export type Fresh =
  | { ok: true; krbcred: Buffer; ticket: TicketInfo; source: string; fromKdc: boolean }
  /**
   * Nothing to write now: `nothing-fresher` (the store answered, or the KDC will not renew: wait,
   * or give up once renew-until is reached), `failed` (neither could be asked: back off).
   */
  | { ok: false; why: string; kind: 'nothing-fresher' | 'failed' };

const STORE_DOWN = new Set<ErrorCode>(['E_STORE_UNREACHABLE', 'E_STORE_TIMEOUT', 'E_STORE_CLOSED']);
/**
 * The store answered, but could not decide now (it could not ask slurmctld whether the job runs
 * here): try again soon with back-off, like a store that is down, not at the slow pace of "nothing
 * stored". Its refusal is respected: no KDC behind its back.
 */
const STORE_CANNOT_DECIDE = new Set<ErrorCode>(['E_SLURMCTLD_UNREACHABLE', 'E_JOB_CHECK']);

function asError(e: unknown): Krb5BridgeError {
  return isKrb5BridgeError(e) ? e : new Krb5BridgeError('E_INTERNAL', String(e));
}

/** The freshest ticket this keeper can get for `uid`, whose due jobs are `jobs`. */
export async function freshTicket(o: SourceOptions, uid: number, jobs: Job[]): Promise<Fresh> {
  let storeErr: Krb5BridgeError;
  try {
    const krbcred = (await o.fetch(uid, jobs[0]!.job)).krbcred;
    return { ok: true, krbcred, ticket: primaryTgt(parseKrbCred(krbcred)), source: 'the store', fromKdc: false };
  } catch (e) {
    storeErr = asError(e);
  }
  if (STORE_CANNOT_DECIDE.has(storeErr.code)) return { ok: false, why: `${storeErr.code} ${storeErr.detail ?? storeErr.message}`, kind: 'failed' };
  // The store answered but has nothing better: no KDC behind its back.
  if (!STORE_DOWN.has(storeErr.code)) return { ok: false, why: `${storeErr.code} ${storeErr.detail ?? storeErr.message}`, kind: 'nothing-fresher' };
  // The store cannot be reached: renew the job's own ticket at the KDC, once for this user.
  const j = jobs.find((x) => isValidJobCcache(x.path, x.uid));
  if (!j) return { ok: false, why: `${storeErr.code} ${storeErr.detail ?? ''}; no intact job ccache to renew at the KDC`, kind: 'failed' };
  try {
    const b = readJobCcache(j.path, uid);
    const renewed = await o.renew(b.krbcred);
    b.krbcred.fill(0);
    return { ok: true, krbcred: renewed.krbcred, ticket: renewed.ticket, source: 'the KDC (the store is unreachable)', fromKdc: true };
  } catch (e2) {
    const kdcErr = asError(e2);
    const final = kdcErr.code === 'E_NOT_RENEWABLE' || kdcErr.code === 'E_TICKET_EXPIRED';
    return {
      ok: false,
      why: final ? `${storeErr.code} and ${kdcErr.code} ${kdcErr.detail ?? ''}` : `${storeErr.code} ${storeErr.detail ?? ''}; KDC renewal failed too: ${kdcErr.code} ${kdcErr.detail ?? ''}`,
      kind: final ? 'nothing-fresher' : 'failed',
    };
  }
}
