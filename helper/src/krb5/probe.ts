/**
 * What `krb5bridge doctor` asks libkrb5: the default realm of krb5.conf, the KDC's clock (the auth
 * time of a fresh AS exchange with a keytab: the KDC's own time when it answered), and whether a
 * keytab is usable end to end, as `kvno -k` shows it: a ticket for its own principal got from the
 * KDC, then accepted (krb5_rd_req) with the keytab's key.
 */
import { Krb5BridgeError } from '../errors';
import { ApClient, ApServer } from './ap';
import { allocCreds, freeCreds, ticketInfo } from './creds';
import { Keytab } from './keytab';
import { ctx, errorMessage, fn, koffi, outPtr } from './lib';
import { parsePrincipal } from './names';

/** krb5_get_default_realm: E_CONFIG when krb5.conf names none. */
export function defaultRealm(): string {
  const c = ctx();
  const out: [unknown] = [null];
  const code = fn.get_default_realm(c, out) as number;
  if (code !== 0 || !out[0]) throw new Krb5BridgeError('E_CONFIG', `krb5.conf has no default realm: ${errorMessage(code)} [${code}]`);
  try {
    return koffi.decode.string(out[0]);
  } finally {
    fn.free_default_realm(c, out[0]);
  }
}

/**
 * A fresh AS exchange for `principal` with `keytab` (no cached ticket): the ticket's auth time is
 * the KDC's clock when it answered. Returns the offset KDC minus here, in seconds, within the
 * exchange's own duration (rounded to whole seconds, as Kerberos times are).
 */
export function kdcClockOffset(keytab: string, principal: string): { offset: number; roundTripMs: number } {
  const c = ctx();
  const kt = Keytab.open(keytab, principal, 'client');
  const princ = parsePrincipal(principal);
  const creds = allocCreds();
  const opt = outPtr((o) => fn.get_init_creds_opt_alloc(c, o), 'krb5_get_init_creds_opt_alloc');
  try {
    const t0 = Date.now();
    const code = fn.get_init_creds_keytab(c, creds, princ, kt.handle, 0, null, opt) as number;
    const t1 = Date.now();
    if (code !== 0) throw new Krb5BridgeError('E_AUTH', `cannot get a ticket for ${principal} from keytab ${keytab}: ${errorMessage(code)} [${code}]`);
    // Kerberos times are whole seconds: a KDC time between our whole seconds before and after is no offset.
    const kdcTime = ticketInfo(creds).authtime;
    const [lo, hi] = [Math.floor(t0 / 1000), Math.floor(t1 / 1000)];
    return { offset: kdcTime < lo ? kdcTime - lo : kdcTime > hi ? kdcTime - hi : 0, roundTripMs: t1 - t0 };
  } finally {
    freeCreds(creds);
    fn.get_init_creds_opt_free(c, opt);
    fn.free_principal(c, princ);
    kt.close();
  }
}

/** `kvno -k KEYTAB PRINCIPAL`: a service ticket for the keytab's own principal, accepted with its key. */
export function keytabAccepts(keytab: string, principal: string): void {
  const { session, apReq } = ApClient.start({ kind: 'keytab', keytab, principal }, principal);
  session.close();
  const kt = Keytab.open(keytab, principal, 'service');
  const service = parsePrincipal(principal);
  try {
    ApServer.accept(apReq, service, kt).session.close();
  } finally {
    fn.free_principal(ctx(), service);
    kt.close();
  }
}
