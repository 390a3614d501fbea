/**
 * Picking the mechanism: the store by each connection's first frame (a krb5 handshake starts
 * with KRB5_MAGIC, a munge credential with "MUNGE:"), the client by the `auth` config key.
 */
import { Krb5BridgeError } from '../../errors';
import type { Config } from '../../config/config';
import { parseAddress } from '../../config/config';
import { hostServicePrincipal } from '../../krb5';
import { Krb5Acceptor, Krb5ClientAuth, Krb5ServerAuth } from './krb5';
import { MungeClientAuth, MungeServerAuth } from './munge';
import { ClientAuth, ServerAuth, isKrb5Handshake } from './types';

export type { AuthCaller, Caller, ClientAuth, Inbound, Mech, ServerAuth } from './types';
export { Krb5Acceptor, isNodeIdentity } from './krb5';
export { KRB5_MAGIC, isKrb5Handshake } from './types';

export interface ServerAuthDeps {
  mungeSocket: string | undefined;
  /** Set when the store has a service keytab: it then also accepts krb5 clients. */
  krb5?: Krb5Acceptor | undefined;
}

/** Refuses every frame: a krb5 handshake to a store without a keytab. */
class NoKrb5 implements ServerAuth {
  readonly mech = 'krb5' as const;
  async receive(): Promise<never> {
    throw new Krb5BridgeError('E_AUTH', 'this store accepts no Kerberos clients (it has no keytab); use auth = munge or configure keytab on the store');
  }
  async seal(body: Buffer): Promise<Buffer> {
    return body;
  }
  refusedPayload(): undefined {
    return undefined;
  }
  close(): void {}
}

/** The mechanism of a new connection, chosen by its first frame. */
export function serverAuthFor(firstFrame: Buffer, deps: ServerAuthDeps): ServerAuth {
  if (isKrb5Handshake(firstFrame)) return deps.krb5 ? new Krb5ServerAuth(deps.krb5) : new NoKrb5();
  return new MungeServerAuth(deps.mungeSocket);
}

/** Who the client is: the node (root fetching for a job: the host keytab) or the user (a ccache). */
/** `cachedOnly`: a daemon's node identity that must never wait on the KDC (krb5/hostcreds.ts). */
export type ClientRole = { role: 'node'; cachedOnly?: boolean } | { role: 'user'; ccache?: string | undefined };

/** The store's service principal as the client names it: store_principal, else krb5bridge/<store host>. */
export function storePrincipal(config: Config): string {
  if (config.store_principal) return config.store_principal;
  const { host } = parseAddress(config.store, 'store');
  if (/^[0-9.]+$/.test(host) || host.includes(':')) {
    throw new Krb5BridgeError('E_CONFIG', `auth = krb5 needs store_principal when the store address is an IP (${config.store}); set e.g. store_principal = krb5bridge/<store host>@REALM`);
  }
  return hostServicePrincipal('krb5bridge', host);
}

export function clientAuthFor(config: Config, who: ClientRole): ClientAuth {
  if (config.auth === 'munge') return new MungeClientAuth(config.store, config.munge_socket, config.store_uid);
  const service = storePrincipal(config);
  if (who.role === 'node') {
    const principal = config.client_principal ?? hostServicePrincipal('host');
    return new Krb5ClientAuth(config.store, service, { kind: 'keytab', keytab: config.client_keytab, principal, cachedOnly: who.cachedOnly === true });
  }
  return new Krb5ClientAuth(config.store, service, { kind: 'ccache', ccache: who.ccache });
}
