/**
 * The store's fixed rules (DESIGN.md, security model), which no policy file can relax, as pure
 * functions: each returns nothing when the request is allowed and throws the refusal otherwise.
 * The caller's uid is always the one the transport authenticated, never a field of the request.
 */
import { Krb5BridgeError } from '../errors';

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

/**
 * Kerberos mode: the pushed ticket must be the authenticated principal's own (a user who can
 * authenticate as themselves must not store a ticket of someone else that maps to the same uid).
 */
export function checkAuthenticatedPrincipal(authenticated: string, ticketPrincipal: string): void {
  if (authenticated !== ticketPrincipal) {
    throw new Krb5BridgeError('E_PRINCIPAL_MISMATCH', `you authenticated as ${authenticated} but the ticket belongs to ${ticketPrincipal}`);
  }
}

/** A node identity (a Kerberos host principal) is the node's root: it may fetch and ping, nothing else. */
export function checkNodeIdentityOp(principal: string, op: string): void {
  if (op !== 'fetch' && op !== 'ping') throw new Krb5BridgeError('E_PERMISSION', `${principal} is a node identity: it may fetch, not ${op}`);
}

// Who may fetch, show, list and remove is the site policy's to say: see acl.ts; authorize.ts applies both.
