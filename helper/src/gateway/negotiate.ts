/**
 * POST /api/v1/login with `Authorization: Negotiate <token>` (SPNEGO, curl --negotiate
 * --delegation always): the token is accepted with the gateway's keytab (krb5/spnego.ts), the
 * delegated TGT lands in a MEMORY ccache, the store's ticket is added (a KDC exchange, off the
 * event loop), then establish.ts. No delegation: E_NO_DELEGATION (401), which says how to enable it.
 */
import { Krb5BridgeError } from '../errors';
import { readTgts, primaryTgt } from '../krb5';
import { destroyCcache } from '../krb5/ccache';
import type { KdcLogin } from '../krb5/password';
import { MAX_SPNEGO_TOKEN, SpnegoAcceptor } from '../krb5/spnego';
import type { Audit } from '../audit/audit';
import { EstablishDeps, Established, establish } from './establish';

export interface NegotiateDeps extends EstablishDeps {
  kdc: KdcLogin;
  spnego: SpnegoAcceptor;
  audit: Audit;
}

/** The token of an `Authorization: Negotiate <base64>` header, or undefined if it is not one. */
export function negotiateToken(header: string | undefined): Buffer | undefined {
  const m = header === undefined ? null : /^Negotiate ([A-Za-z0-9+/]+={0,2})$/.exec(header.trim());
  if (!m) return undefined;
  if (m[1]!.length > (MAX_SPNEGO_TOKEN * 4) / 3 + 4) throw new Krb5BridgeError('E_AUTH', 'the Negotiate token is too long');
  return Buffer.from(m[1]!, 'base64');
}

export async function negotiateLogin(deps: NegotiateDeps, token: Buffer, addr: string): Promise<Established & { reply: Buffer | undefined }> {
  let principal: string | undefined;
  try {
    const accepted = deps.spnego.accept(token);
    principal = accepted.principal;
    let ticket;
    try {
      const bundle = readTgts(accepted.ccache);
      ticket = await deps.kdc.storeTicketFor(accepted.ccache, bundle.principal, bundle.krbcred, primaryTgt(bundle));
    } catch (e) {
      destroyCcache(accepted.ccache);
      throw e;
    }
    const established = await establish(deps, ticket, 'spnego');
    deps.audit.record({ op: 'login', result: 'ok', uid: established.session.uid, principal, host: addr, mech: 'spnego', action: established.action });
    return { ...established, reply: accepted.reply };
  } catch (e) {
    const code = e instanceof Krb5BridgeError ? e.code : 'E_INTERNAL';
    deps.audit.record({ op: 'login', result: code === 'E_AUTH' || code === 'E_NO_DELEGATION' || code === 'E_NO_ACCOUNT' ? 'refused' : 'error', code, principal, host: addr, mech: 'spnego' });
    throw e;
  }
}
