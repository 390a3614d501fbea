/**
 * What every login ends with, once the user's fresh TGT is in a MEMORY ccache (password.ts,
 * negotiate.ts): the principal must be a local account of a user (auth_to_local, then the
 * system's passwd; root and uids below min_uid are refused), the TGT is pushed to the store AS
 * THE USER (krb5 mode, authenticated with that very ticket: the store's rule "only your own
 * ticket" holds with no trust in the gateway), and a session is opened, valid no longer than the
 * TGT. On any failure the ccache is destroyed.
 */
import type { Config } from '../config/config';
import { Krb5BridgeError } from '../errors';
import { pushCreds } from '../client/client';
import { anameToLocalname } from '../krb5';
import { destroyCcache } from '../krb5/ccache';
import type { LoginTicket } from '../krb5/password';
import type { AccountResolver } from '../sys/accounts';
import type { Session, Sessions } from './sessions';

export interface EstablishDeps {
  config: Config;
  accounts: AccountResolver;
  sessions: Sessions;
}

export interface Established {
  token: string;
  session: Session;
  /** The store kept a fresher ticket it already had ("kept") or stored this one. */
  action: 'stored' | 'kept';
}

/** The local account a principal maps to, or E_NO_ACCOUNT (a user's account only). */
export async function accountOf(deps: EstablishDeps, principal: string): Promise<{ user: string; uid: number; gid: number; home: string | undefined }> {
  const user = anameToLocalname(principal);
  if (user === undefined) throw new Krb5BridgeError('E_NO_ACCOUNT', `${principal} maps to no local user name (auth_to_local)`);
  const a = await deps.accounts.of(user);
  if (a === undefined) throw new Krb5BridgeError('E_NO_ACCOUNT', `${principal} maps to "${user}", which is not a user on the cluster`);
  if (a.uid === 0 || a.uid < deps.config.min_uid) throw new Krb5BridgeError('E_NO_ACCOUNT', `"${user}" is root or a system account (uid ${a.uid} < min_uid ${deps.config.min_uid}); only users run jobs through the gateway`);
  return { user, uid: a.uid, gid: a.gid, home: a.home };
}

export async function establish(deps: EstablishDeps, t: LoginTicket, mech: Session['mech']): Promise<Established> {
  try {
    const account = await accountOf(deps, t.principal);
    const pushed = await pushCreds(deps.config, t.krbcred, { ccache: t.ccache });
    const session: Session = {
      ...account,
      principal: t.principal,
      mech,
      expires: t.ticket.endtime * 1000,
      ccache: t.ccache,
      storeValidUntil: pushed.endtime * 1000,
      storeCheckedAt: Date.now(),
    };
    return { token: deps.sessions.create(session), session, action: pushed.action };
  } catch (e) {
    destroyCcache(t.ccache);
    throw e;
  } finally {
    t.krbcred.fill(0);
  }
}
