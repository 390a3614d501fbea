/**
 * The host-credential cache: a node authenticates to the store with its host key (a keytab
 * identity). krb5_get_init_creds_keytab puts the host's TGT in a MEMORY ccache (never a file:
 * nothing of the host key lands on disk), kept per process until a minute before it expires, so a
 * keeper fetching often asks the KDC once per TGT life.
 *
 * hostCcache asks the KDC on the calling thread (fine for a command). A daemon must never wait on
 * the KDC there: the node keeper calls fetchHostTicket, which gets the TGT and the store's ticket
 * on a worker thread (KdcWorkers: given up after a timeout) into a new host cache, and asks
 * hostTicketReady before it uses Kerberos at all (keeper/storelink.ts).
 */
import { Krb5BridgeError } from '../errors';
import { destroyCcache } from './ccache';
import { KdcWorkers, onWorker } from './kdcworker';
import { Keytab } from './keytab';
import { KRB5, KrbCreds, Ptr, cAlloc, cFree, check, ctx, errorMessage, fn, koffi, outPtr } from './lib';
import { parsePrincipal } from './names';
import { addServiceTicket, memoryCcache, parseWith } from './tgs';

interface HostCache {
  cc: Ptr;
  endtime: number;
  /** End time of the service tickets fetchHostTicket put in it, by service principal. */
  services?: Map<string, number>;
  /** Seconds before an end at which fetchHostTicket's tickets count as used up: 60, or a quarter of a shorter life. */
  margin?: number;
}

const hostCaches = new Map<string, HostCache>();

function cacheKey(keytabPath: string, principal: string): string {
  return `${keytabPath}\0${principal}`;
}

/** Is `end` (a ticket's end time) still more than the cache's margin away? The one rule for "still good". */
function lasts(hit: HostCache, end: number): boolean {
  return end > Math.floor(Date.now() / 1000) + (hit.margin ?? 60);
}

/** A MEMORY ccache holding `principal`'s TGT from `keytabPath` (cached; do not close it). */
export function hostCcache(keytabPath: string, principal: string): Ptr {
  const key = cacheKey(keytabPath, principal);
  const hit = hostCaches.get(key);
  if (hit && lasts(hit, hit.endtime)) return hit.cc;
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

/**
 * The host cache as fetchHostTicket left it, for a daemon that must not wait on the KDC: its TGT
 * still valid for the margin, else E_KDC_UNREACHABLE (the caller goes on without Kerberos meanwhile).
 */
export function hostCcacheCached(keytabPath: string, principal: string): Ptr {
  const hit = hostCaches.get(cacheKey(keytabPath, principal));
  if (hit && lasts(hit, hit.endtime)) return hit.cc;
  throw new Krb5BridgeError('E_KDC_UNREACHABLE', `the host tickets of ${principal} are not in memory yet (asked of the KDC off the event loop)`);
}

/** Forget the cached host tickets (after the KDC or the store refused one). */
export function dropHostCache(): void {
  for (const h of hostCaches.values()) fn.cc_destroy(ctx(), h.cc);
  hostCaches.clear();
}

/**
 * Does the host cache hold, for more than its margin still, the TGT and a ticket for every one of
 * `services`? Then an AP exchange with them needs no KDC. Asks nothing of the KDC.
 */
export function hostTicketReady(keytabPath: string, principal: string, services: readonly string[]): boolean {
  const hit = hostCaches.get(cacheKey(keytabPath, principal));
  return !!hit && lasts(hit, hit.endtime) && services.every((s) => lasts(hit, hit.services?.get(s) ?? 0));
}

/** One host ticket request at a time per process; the timeout is the caller's (kdc_timeout). */
const hostWorkers = new KdcWorkers<null>({ concurrency: 1, perSecond: 2, timeoutMs: 10_000 }, () => null, { exchanges: 'host ticket requests', kdcMayBe: 'down or hung' });

/**
 * The host's TGT from its keytab and a ticket for each of `services`, asked of the KDC on a worker
 * thread into a new MEMORY ccache, which then replaces the host cache: the event loop never waits
 * on the KDC. E_KDC_UNREACHABLE when the KDC does not answer within `timeoutMs` (the exchange, given
 * up on, finishes on its thread and its cache is destroyed); E_AUTH when the KDC refuses the key.
 */
export async function fetchHostTicket(keytabPath: string, principal: string, services: readonly string[], timeoutMs: number): Promise<void> {
  hostWorkers.configure({ timeoutMs });
  // The trusted-path check on this thread; libkrb5 then reads the checked file by its descriptor.
  const kt = Keytab.open(keytabPath, principal, 'client');
  // The exchange closes the keytab when it ends (it may outlive a timeout); if it never starts, we do.
  let started = false;
  const made = await hostWorkers.run(
    `the host ticket of ${principal}`,
    async (w) => {
      started = true;
      const c = w.c;
      const ktw: [Ptr | null] = [null];
      const client = parseWith(c, principal);
      const creds = cAlloc(koffi.sizeof(KrbCreds));
      const opt: [Ptr | null] = [null];
      let cc: Ptr | undefined;
      try {
        let code = fn.kt_resolve(c, kt.descriptorName(), ktw) as number;
        if (code !== 0 || !ktw[0]) throw new Krb5BridgeError('E_CONFIG', `client keytab ${keytabPath}: ${errorMessage(code)}`);
        code = fn.get_init_creds_opt_alloc(c, opt) as number;
        if (code !== 0 || !opt[0]) throw new Krb5BridgeError('E_KRB5', `krb5_get_init_creds_opt_alloc: ${errorMessage(code)}`);
        code = await onWorker(fn.get_init_creds_keytab, c, creds, client, ktw[0], 0, null, opt[0]);
        if (code === KRB5.KDC_UNREACH) throw new Krb5BridgeError('E_KDC_UNREACHABLE', `getting a ticket for ${principal} from keytab ${keytabPath}: ${errorMessage(code)}`);
        if (code !== 0) throw new Krb5BridgeError('E_AUTH', `cannot get a ticket for ${principal} from keytab ${keytabPath}: ${errorMessage(code)} [${code}]`);
        const endtime = (koffi.decode(creds, KrbCreds) as { times: { endtime: number } }).times.endtime;
        const made = memoryCcache(c, client, creds, 'host');
        cc = made.cc;
        const ends = new Map<string, number>();
        for (const service of services) ends.set(service, await addServiceTicket(c, cc, client, service));
        fn.cc_close(c, cc);
        cc = undefined;
        return { name: made.name, endtime, services: ends };
      } catch (e) {
        if (cc !== undefined) fn.cc_destroy(c, cc);
        throw e;
      } finally {
        fn.free_cred_contents(c, creds);
        cFree(creds);
        if (opt[0]) fn.get_init_creds_opt_free(c, opt[0]);
        if (ktw[0]) fn.kt_close(c, ktw[0]);
        fn.free_principal(c, client);
        kt.close();
      }
    },
    // Given up on, finished later: nobody will use it.
    (t) => destroyCcache(t.name),
  ).finally(() => {
    if (!started) kt.close();
  });
  const cc = outPtr((o) => fn.cc_resolve(ctx(), made.name, o), 'krb5_cc_resolve', made.name);
  const key = cacheKey(keytabPath, principal);
  const old = hostCaches.get(key);
  const life = Math.min(made.endtime, ...made.services.values()) - Math.floor(Date.now() / 1000);
  hostCaches.set(key, { cc, endtime: made.endtime, services: made.services, margin: Math.max(1, Math.min(60, Math.floor(life / 4))) });
  if (old) fn.cc_destroy(ctx(), old.cc);
}
