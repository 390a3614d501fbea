/**
 * The keeper's link to the store: one authenticated connection kept open and used for every
 * fetch (materialise and refresh), one request at a time, instead of a new connection per fetch
 * (client/client.ts StoreSession: reconnects when the store closed it, fails over to the next
 * store of a list). Where the node has a host keytab (client_keytab) it authenticates with
 * Kerberos as the node (host/<this host>): one AP exchange per connection, then each fetch is a
 * KRB-PRIV message each way, where munge costs four munged round trips per fetch (an encode and
 * a decode at each end). keeper_auth = auto does that when the keytab exists and falls back to
 * munge, said once in the log, when the store or the KDC refuses it; munge or krb5 force one.
 *
 * The KDC is never waited on for a fetch: the handshake takes the host tickets from memory only
 * (cachedOnly), a (re)connection uses Kerberos only when they are there (krb5/hostcreds.ts
 * hostTicketReady); otherwise that fetch goes over munge while the tickets are asked for on a
 * worker thread (fetchHostTicket, kdc_timeout). So a KDC that is down or hung costs the keeper nothing but the munge operations
 * (auto); with keeper_auth = krb5 the fetch fails E_KDC_UNREACHABLE and the keeper retries it.
 */
import { existsSync } from 'node:fs';
import type { Config } from '../config/config';
import { fetchCreds, StoreSession } from '../client/client';
import { isKrb5BridgeError, Krb5BridgeError, type ErrorCode } from '../errors';
import { fetchHostTicket, hostServicePrincipal, hostTicketReady } from '../krb5';
import { storePrincipal } from '../wire/auth';
import type { Fetched } from './source';

/** Failures of Kerberos itself (keytab, KDC's refusal, a store without a keytab), after which auto falls back to munge for good. */
const KRB5_REFUSED = new Set<ErrorCode>(['E_AUTH', 'E_KRB5', 'E_CONFIG']);

export class StoreLink {
  private session: StoreSession;
  private mech: 'munge' | 'krb5';
  private readonly auto: boolean;
  /** auto, while the host tickets cannot be had: fetches over munge on this session. */
  private munge: StoreSession | undefined;
  private asking: Promise<void> | undefined;
  private kdcDown = false;

  constructor(
    private readonly config: Config,
    private readonly log: (line: string) => void,
  ) {
    this.auto = config.keeper_auth === 'auto';
    this.mech = config.keeper_auth === 'auto' ? (existsSync(config.client_keytab) ? 'krb5' : 'munge') : config.keeper_auth;
    this.session = this.open(this.mech);
    // Ask for the host tickets at once: by the first job, Kerberos is ready.
    if (this.mech === 'krb5') {
      try {
        this.askHostTicket().catch(() => undefined);
      } catch (e) {
        if (!this.givenUp(e)) throw e;
      }
    }
  }

  private open(mech: 'munge' | 'krb5'): StoreSession {
    // cachedOnly: the handshake takes the host tickets from memory, never from the KDC.
    return new StoreSession(this.config, { role: 'node', cachedOnly: true }, { mech });
  }

  /** What the log says at start: "krb5 (host keytab /etc/krb5.keytab)" or "munge". */
  describe(): string {
    return this.mech === 'krb5' ? `krb5 (host keytab ${this.config.client_keytab})` : 'munge';
  }

  private get principal(): string {
    return this.config.client_principal ?? hostServicePrincipal('host');
  }

  /** The service principal of every store listed (each its own unless store_principal is set). */
  private services(): string[] {
    return [...new Set(this.config.store.split(',').map((store) => storePrincipal({ ...this.config, store })))];
  }

  private ready(): boolean {
    return hostTicketReady(this.config.client_keytab, this.principal, this.services());
  }

  async fetch(uid: number, job: string): Promise<Fetched> {
    let meanwhile = false;
    if (this.mech === 'krb5' && !this.session.connected) {
      try {
        if (!this.ready()) {
          const asked = this.askHostTicket();
          // keeper_auth = krb5: wait for the tickets (bounded by kdc_timeout). auto: a KDC that
          // answers gives them in milliseconds (the keeper's start, a TGT's end), so wait a moment
          // unless the KDC is known to be out; then, or if they did not come, munge meanwhile.
          if (!this.auto) await asked;
          else meanwhile = this.kdcDown || !(await settlesWithin(asked, Math.min(1000, this.config.kdc_timeout * 250))) || !this.ready();
        }
      } catch (e) {
        if (!this.givenUp(e)) throw e;
      }
    }
    if (meanwhile && this.mech === 'krb5') return this.viaMunge(uid, job);
    if (this.mech === 'munge') return { krbcred: (await fetchCreds(this.config, uid, job, this.session)).krbcred };
    try {
      return { krbcred: (await fetchCreds(this.config, uid, job, this.session)).krbcred };
    } catch (e) {
      // The host tickets ran out under a connection that broke meanwhile: munge until they come.
      if (this.auto && isKrb5BridgeError(e) && e.code === 'E_KDC_UNREACHABLE') {
        this.askHostTicket();
        return this.viaMunge(uid, job);
      }
      if (!this.givenUp(e)) throw e;
      return { krbcred: (await fetchCreds(this.config, uid, job, this.session)).krbcred };
    }
  }

  /** auto and Kerberos refused for good (keytab, principal, store): switch to munge, once. */
  private givenUp(e: unknown): boolean {
    if (!(this.auto && this.mech === 'krb5' && isKrb5BridgeError(e) && KRB5_REFUSED.has(e.code))) return false;
    this.log(`the store link cannot use Kerberos with the host keytab ${this.config.client_keytab} (${e.code}: ${e.detail ?? e.message}); using munge from now on (keeper_auth = munge says so for good)`);
    this.session.close();
    this.munge?.close();
    this.munge = undefined;
    this.mech = 'munge';
    this.session = this.open('munge');
    return true;
  }

  private async viaMunge(uid: number, job: string): Promise<Fetched> {
    this.munge ??= this.open('munge');
    return { krbcred: (await fetchCreds(this.config, uid, job, this.munge)).krbcred };
  }

  /** Ask the KDC for the host tickets on a worker thread, one request at a time; says an outage once. */
  private askHostTicket(): Promise<void> {
    this.asking ??= fetchHostTicket(this.config.client_keytab, this.principal, this.services(), this.config.kdc_timeout * 1000)
      .then(
        () => {
          if (this.kdcDown) this.log(`the host ticket of ${this.principal} was renewed: the store link uses Kerberos again`);
          this.kdcDown = false;
          // The munge session stays: a fetch may still be on it (the store drops it once idle).
        },
        (e: unknown) => {
          if (isKrb5BridgeError(e) && e.code === 'E_KDC_UNREACHABLE') {
            if (!this.kdcDown && this.auto) this.log(`cannot get the host ticket of ${this.principal} (${e.detail ?? e.message}); fetching with munge until the KDC answers`);
            this.kdcDown = true;
          } else if (this.auto) this.givenUp(e);
          if (!this.auto) throw e instanceof Error ? e : new Krb5BridgeError('E_INTERNAL', String(e));
        },
      )
      .finally(() => {
        this.asking = undefined;
      });
    return this.asking;
  }

  close(): void {
    this.session.close();
    this.munge?.close();
  }
}

/** Did `p` settle within `ms`? (It goes on either way.) */
function settlesWithin(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([p.then(() => true, () => true), late]).finally(() => clearTimeout(timer));
}
