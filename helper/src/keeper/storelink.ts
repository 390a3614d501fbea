/**
 * The keeper's link to the store: one authenticated connection kept open and used for every
 * fetch (materialise and refresh), one request at a time, instead of a new connection per fetch
 * (client/client.ts StoreSession: reconnects when the store closed it, fails over to the next
 * store of a list). Where the node has a host keytab (client_keytab) it authenticates with
 * Kerberos as the node (host/<this host>): one AP exchange per connection, then each fetch is a
 * KRB-PRIV message each way, where munge costs four munged round trips per fetch (an encode and
 * a decode at each end). keeper_auth = auto does that when the keytab exists and falls back to
 * munge, said once in the log, when the store or the KDC refuses it; munge or krb5 force one.
 */
import { existsSync } from 'node:fs';
import type { Config } from '../config/config';
import { fetchCreds, StoreSession } from '../client/client';
import { isKrb5BridgeError, type ErrorCode } from '../errors';
import type { Fetched } from './source';

/** Failures of Kerberos itself (keytab, KDC, a store without a keytab), after which auto falls back to munge. */
const KRB5_REFUSED = new Set<ErrorCode>(['E_AUTH', 'E_KRB5', 'E_CONFIG', 'E_KDC_UNREACHABLE']);

export class StoreLink {
  private session: StoreSession;
  private mech: 'munge' | 'krb5';
  private readonly auto: boolean;

  constructor(
    private readonly config: Config,
    private readonly log: (line: string) => void,
  ) {
    this.auto = config.keeper_auth === 'auto';
    this.mech = config.keeper_auth === 'auto' ? (existsSync(config.client_keytab) ? 'krb5' : 'munge') : config.keeper_auth;
    this.session = this.open();
  }

  private open(): StoreSession {
    return new StoreSession(this.config, { role: 'node' }, { mech: this.mech });
  }

  /** What the log says at start: "krb5 (host keytab /etc/krb5.keytab)" or "munge". */
  describe(): string {
    return this.mech === 'krb5' ? `krb5 (host keytab ${this.config.client_keytab})` : 'munge';
  }

  async fetch(uid: number, job: string): Promise<Fetched> {
    try {
      return { krbcred: (await fetchCreds(this.config, uid, job, this.session)).krbcred };
    } catch (e) {
      if (!(this.auto && this.mech === 'krb5' && isKrb5BridgeError(e) && KRB5_REFUSED.has(e.code))) throw e;
      this.log(`the store link cannot use Kerberos with the host keytab ${this.config.client_keytab} (${e.code}: ${e.detail ?? e.message}); using munge from now on (keeper_auth = munge says so for good)`);
      this.session.close();
      this.mech = 'munge';
      this.session = this.open();
      return { krbcred: (await fetchCreds(this.config, uid, job, this.session)).krbcred };
    }
  }

  close(): void {
    this.session.close();
  }
}
