/**
 * Password login for the gateway, through the real libkrb5, off the event loop (kdcworker.ts):
 *   1. krb5_get_init_creds_password: the user's TGT, forwardable and renewable (the site's
 *      lifetimes: the options given, else krb5.conf's libdefaults, capped by the KDC);
 *   2. krb5_verify_init_creds against the gateway's own keytab (ap_req_nofail): a service ticket
 *      for the gateway's principal must decrypt with our key, so a spoofed KDC that answers any
 *      password cannot log anyone in;
 *   3. the TGT goes into a new MEMORY ccache (per process, never a file) and a service ticket for
 *      the store is added to it, so the push "as the user" (wire/auth/krb5.ts) that follows needs no
 *      KDC exchange on the event loop.
 * The password is copied into C memory and wiped as soon as the KDC exchange returns; it is never
 * logged, stored or put into an error message. A wrong password and an unknown user are one
 * answer (E_LOGIN_FAILED), so the gateway is no oracle for which user names exist.
 */
import { Krb5BridgeError } from '../errors';
import { KRB5, Ptr, cAlloc, cFree, cWipe, copyIn, errorMessage, fn } from './lib';
import { allocCreds, ticketInfo } from './creds';
import { destroyCcache } from './ccache';
import { mkKrbCred } from './krbcred';
import type { Keytab } from './keytab';
import { KdcWorkerPolicy, KdcWorkers, WorkerContext, onWorker } from './kdcworker';
import type { TicketInfo } from './types';
import { addServiceTicket, memoryCcache, parseWith } from './tgs';

export interface PasswordLoginOptions {
  /** The gateway's keytab (opened through the trusted-path check) and the principal in it that krb5_verify_init_creds checks against. */
  keytab: Keytab;
  principal: string;
  /** The store's service principal: its ticket is put in each login's ccache. */
  storePrincipal: string;
  /** Seconds; undefined = krb5.conf's ticket_lifetime. */
  ticketLifetime?: number | undefined;
  /** Seconds; undefined = krb5.conf's renew_lifetime. */
  renewLifetime?: number | undefined;
  policy: KdcWorkerPolicy;
}

export interface LoginTicket {
  /** MEMORY:... holding the TGT and a store service ticket; destroyCcache() it when done. */
  ccache: string;
  principal: string;
  /** The TGT alone, as a KRB-CRED (what is pushed to the store). */
  krbcred: Buffer;
  ticket: TicketInfo;
}

/** The user name part of a login: a plain local name, no realm or instance (it is parsed with the default realm). */
export const LOGIN_NAME = /^[a-z_][a-z0-9_.-]{0,31}$/;

/** Answers of the KDC that mean "wrong password or no such user": one message for all. */
const LOGIN_FAILED = new Set<number>([KRB5.KDC_ERR_PREAUTH_FAILED, KRB5.AP_ERR_BAD_INTEGRITY, KRB5.KDC_ERR_C_PRINCIPAL_UNKNOWN]);

function failed(): Krb5BridgeError {
  return new Krb5BridgeError('E_LOGIN_FAILED');
}

/** The context's keytab handle for the gateway's key (resolved once per pooled context). */
interface Extra {
  kt: Ptr;
}

/** A NUL-terminated copy of the password in C memory. */
function cString(s: string): { p: Ptr; len: number } {
  const b = Buffer.from(s, 'utf8');
  const p = cAlloc(b.length + 1);
  copyIn(p, b);
  b.fill(0);
  return { p, len: b.length + 1 };
}

export class KdcLogin {
  private readonly workers: KdcWorkers<Extra>;

  constructor(private readonly o: PasswordLoginOptions) {
    // Checked once by the caller (trusted path, holds the principal's key), read through its descriptor.
    const ktName = o.keytab.descriptorName();
    this.workers = new KdcWorkers<Extra>(o.policy, (c) => {
      const out: [Ptr | null] = [null];
      const code = fn.kt_resolve(c, ktName, out) as number;
      if (code !== 0 || !out[0]) throw new Krb5BridgeError('E_CONFIG', `gateway keytab ${o.keytab.name}: ${errorMessage(code)}`);
      return { kt: out[0] };
    });
  }

  /** Password -> verified TGT in a MEMORY ccache with a store ticket. See the file comment. */
  password(username: string, password: string): Promise<LoginTicket> {
    if (!LOGIN_NAME.test(username)) return Promise.reject(failed());
    return this.workers.run(`password login of ${username}`, (w) => this.passwordOn(w, username, password), (t) => this.discard(t));
  }

  /**
   * A ccache that already holds a TGT (SPNEGO's delegated one): add the store's service ticket,
   * and return the TGT as a KRB-CRED.
   */
  storeTicketFor(ccache: string, principal: string, krbcred: Buffer, ticket: TicketInfo): Promise<LoginTicket> {
    return this.workers.run(`store ticket for ${principal}`, async (w) => {
      const out: [Ptr | null] = [null];
      const code = fn.cc_resolve(w.c, ccache, out) as number;
      if (code !== 0 || !out[0]) throw new Krb5BridgeError('E_KRB5', `krb5_cc_resolve ${ccache}: ${errorMessage(code)}`);
      const cc = out[0];
      const client = parseWith(w.c, principal);
      try {
        await addServiceTicket(w.c, cc, client, this.o.storePrincipal);
      } finally {
        fn.free_principal(w.c, client);
        fn.cc_close(w.c, cc);
      }
      return { ccache, principal, krbcred, ticket };
    });
  }

  /** A login given up on (timeout) finished after all: nobody will use what it made. */
  private discard(t: LoginTicket): void {
    t.krbcred.fill(0);
    destroyCcache(t.ccache);
  }

  private async passwordOn(w: WorkerContext<Extra>, username: string, password: string): Promise<LoginTicket> {
    const { c } = w;
    const client = parseWith(c, username);
    const creds = allocCreds();
    const opt: [Ptr | null] = [null];
    let pw: { p: Ptr; len: number } | undefined = cString(password);
    let filled = false;
    let ccache: { cc: Ptr; name: string } | undefined;
    try {
      const oc = fn.get_init_creds_opt_alloc(c, opt) as number;
      if (oc !== 0 || !opt[0]) throw new Krb5BridgeError('E_KRB5', `krb5_get_init_creds_opt_alloc: ${errorMessage(oc)}`);
      fn.get_init_creds_opt_set_forwardable(opt[0], 1);
      if (this.o.renewLifetime !== undefined) fn.get_init_creds_opt_set_renew_life(opt[0], this.o.renewLifetime);
      if (this.o.ticketLifetime !== undefined) fn.get_init_creds_opt_set_tkt_life(opt[0], this.o.ticketLifetime);
      let code: number;
      try {
        code = await onWorker(fn.get_init_creds_password, c, creds, client, pw.p, null, null, 0, null, opt[0]);
      } finally {
        cWipe(pw.p, pw.len);
        cFree(pw.p);
        pw = undefined;
      }
      if (code === KRB5.KDC_UNREACH) throw new Krb5BridgeError('E_KDC_UNREACHABLE', `password login of ${username}: ${errorMessage(code)}`);
      if (LOGIN_FAILED.has(code)) throw failed();
      if (code === KRB5.KDC_ERR_KEY_EXP) throw new Krb5BridgeError('E_LOGIN_FAILED', 'the password has expired; change it (kpasswd) and log in again');
      if (code === KRB5.KDC_ERR_CLIENT_REVOKED || code === KRB5.KDC_ERR_POLICY) throw failed();
      if (code !== 0) throw new Krb5BridgeError('E_KRB5', `krb5_get_init_creds_password for ${username}: ${errorMessage(code)} [${code}]`);
      filled = true;

      const server = parseWith(c, this.o.principal);
      const vopt = cAlloc(16);
      try {
        fn.verify_init_creds_opt_init(vopt);
        fn.verify_init_creds_opt_set_ap_req_nofail(vopt, 1);
        const vc = await onWorker(fn.verify_init_creds, c, creds, server, w.extra.kt, null, vopt);
        if (vc === KRB5.KDC_UNREACH) throw new Krb5BridgeError('E_KDC_UNREACHABLE', `verifying the login of ${username}: ${errorMessage(vc)}`);
        if (vc !== 0) {
          throw new Krb5BridgeError('E_AUTH', `the KDC's answer for ${username} could not be verified with the gateway's key for ${this.o.principal} (${errorMessage(vc)}): a spoofed KDC, or the gateway keytab is stale`);
        }
      } finally {
        cFree(vopt);
        fn.free_principal(c, server);
      }

      ccache = memoryCcache(c, client, creds, 'gw');
      await addServiceTicket(c, ccache.cc, client, this.o.storePrincipal);
      const ticket = ticketInfo(creds);
      const result: LoginTicket = { ccache: ccache.name, principal: ticket.client, krbcred: mkKrbCred([creds]), ticket };
      fn.cc_close(c, ccache.cc);
      ccache = undefined;
      return result;
    } finally {
      if (pw) {
        cWipe(pw.p, pw.len);
        cFree(pw.p);
      }
      if (ccache) fn.cc_destroy(c, ccache.cc);
      if (filled) fn.free_cred_contents(c, creds); // wipes the session key
      cFree(creds);
      if (opt[0]) fn.get_init_creds_opt_free(c, opt[0]);
      fn.free_principal(c, client);
    }
  }

}
