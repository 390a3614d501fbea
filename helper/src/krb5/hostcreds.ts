/**
 * The host-credential cache: a node authenticates to the store with its host key (a keytab
 * identity). krb5_get_init_creds_keytab puts the host's TGT in a MEMORY ccache (never a file:
 * nothing of the host key lands on disk), kept per process until a minute before it expires, so a
 * keeper fetching often asks the KDC once per TGT life.
 */
import { Krb5BridgeError } from '../errors';
import { Keytab } from './keytab';
import { KrbCreds, Ptr, cAlloc, cFree, check, ctx, errorMessage, fn, koffi, outPtr } from './lib';
import { parsePrincipal } from './names';

interface HostCache {
  cc: Ptr;
  endtime: number;
}

const hostCaches = new Map<string, HostCache>();

/** A MEMORY ccache holding `principal`'s TGT from `keytabPath` (cached; do not close it). */
export function hostCcache(keytabPath: string, principal: string): Ptr {
  const key = `${keytabPath}\0${principal}`;
  const now = Math.floor(Date.now() / 1000);
  const hit = hostCaches.get(key);
  if (hit && hit.endtime > now + 60) return hit.cc;
  if (hit) {
    fn.cc_destroy(ctx(), hit.cc);
    hostCaches.delete(key);
  }
  const c = ctx();
  const kt = Keytab.open(keytabPath, principal, 'client');
  const princ = parsePrincipal(principal);
  const creds = cAlloc(koffi.sizeof(KrbCreds));
  const opt = outPtr((o) => fn.get_init_creds_opt_alloc(c, o), 'krb5_get_init_creds_opt_alloc');
  let cc: Ptr | undefined;
  try {
    const code = fn.get_init_creds_keytab(c, creds, princ, kt.handle, 0, null, opt) as number;
    if (code !== 0) throw new Krb5BridgeError('E_AUTH', `cannot get a ticket for ${principal} from keytab ${keytabPath}: ${errorMessage(code)} [${code}]`);
    const endtime = (koffi.decode(creds, KrbCreds) as { times: { endtime: number } }).times.endtime;
    cc = outPtr((o) => fn.cc_new_unique(c, 'MEMORY', null, o), 'krb5_cc_new_unique');
    check('krb5_cc_initialize', fn.cc_initialize(c, cc, princ) as number);
    check('krb5_cc_store_cred', fn.cc_store_cred(c, cc, creds) as number);
    hostCaches.set(key, { cc, endtime });
    const done = cc;
    cc = undefined;
    return done;
  } finally {
    if (cc !== undefined) fn.cc_destroy(c, cc);
    fn.free_cred_contents(c, creds);
    cFree(creds);
    fn.get_init_creds_opt_free(c, opt);
    fn.free_principal(c, princ);
    kt.close();
  }
}

/** Forget the cached host tickets (after the KDC or the store refused one). */
export function dropHostCache(): void {
  for (const h of hostCaches.values()) fn.cc_destroy(ctx(), h.cc);
  hostCaches.clear();
}
