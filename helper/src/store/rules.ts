/**
 * The store's access rules (DESIGN.md, security model), as pure functions: each returns nothing
 * when the request is allowed and throws the refusal otherwise. The caller's uid is always the
 * one munged authenticated, never a field of the request.
 */
import { Krb5BridgeError } from '../errors';

export interface TicketTimes {
  authtime: number;
  endtime: number;
}

/** Only real users push: not root, not a system account below min_uid. */
export function checkPushUid(callerUid: number, minUid: number): void {
  if (callerUid === 0) throw new Krb5BridgeError('E_UID_REFUSED', 'uid 0 (root) may not store credentials');
  if (callerUid < minUid) throw new Krb5BridgeError('E_UID_REFUSED', `uid ${callerUid} is below min_uid ${minUid}`);
}

/**
 * The ticket's client principal must map (krb5 aname_to_localname, then the passwd database) to
 * the uid munge authenticated. `localName`/`localUid` are those lookups' results.
 */
export function checkPrincipalBinding(callerUid: number, principal: string, localName: string | undefined, localUid: number | undefined): void {
  if (localName === undefined) {
    throw new Krb5BridgeError('E_PRINCIPAL_MISMATCH', `principal ${principal} maps to no local user name (krb5 auth_to_local)`);
  }
  if (localUid === undefined) {
    throw new Krb5BridgeError('E_PRINCIPAL_MISMATCH', `principal ${principal} maps to local name "${localName}", which is not a user here`);
  }
  if (localUid !== callerUid) {
    throw new Krb5BridgeError('E_PRINCIPAL_MISMATCH', `principal ${principal} belongs to ${localName} (uid ${localUid}), but you are uid ${callerUid}`);
  }
}

/** Every ticket in a push must belong to the same client principal. */
export function checkSingleClient(principal: string, clients: readonly string[]): void {
  const other = clients.find((c) => c !== principal);
  if (other !== undefined) throw new Krb5BridgeError('E_PRINCIPAL_MISMATCH', `the credential mixes principals ${principal} and ${other}`);
}

/** A pushed TGT that has already expired is useless to a job. */
export function checkNotExpired(principal: string, endtime: number, now: number): void {
  if (endtime <= now) {
    throw new Krb5BridgeError('E_TICKET_EXPIRED', `the TGT of ${principal} expired at ${new Date(endtime * 1000).toISOString()}`);
  }
}

/** Replace the stored TGT only with a fresher one: later endtime, or newer authtime (a new kinit). */
export function isFresher(incoming: TicketTimes, stored: TicketTimes | undefined): boolean {
  if (!stored) return true;
  return incoming.endtime > stored.endtime || incoming.authtime > stored.authtime;
}

/** fetch hands out tickets: compute-node root only. */
export function checkFetch(callerUid: number, targetUid: number): void {
  if (callerUid !== 0) throw new Krb5BridgeError('E_PERMISSION', `uid ${callerUid} may not fetch credentials (of uid ${targetUid}); only root can`);
}

/** show: root sees any record, a user only their own. */
export function checkShow(callerUid: number, targetUid: number): void {
  if (callerUid !== 0 && callerUid !== targetUid) throw new Krb5BridgeError('E_PERMISSION', `uid ${callerUid} may not see the record of uid ${targetUid}`);
}

/** list: root sees every record, a user only their own. */
export function listScope(callerUid: number): 'all' | number {
  return callerUid === 0 ? 'all' : callerUid;
}

/** remove: a user removes their own credential, root anyone's. */
export function checkRemove(callerUid: number, targetUid: number): void {
  if (callerUid !== 0 && callerUid !== targetUid) throw new Krb5BridgeError('E_PERMISSION', `uid ${callerUid} may not remove the credential of uid ${targetUid}`);
}
