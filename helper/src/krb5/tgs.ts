/**
 * Work in a pooled krb5 context (KdcWorkers.run, which bounds the wait), shared by the gateway's
 * logins (password.ts) and a node's host tickets (hostcreds.ts): a new MEMORY ccache holding the
 * initial ticket, and a service ticket from the KDC on a worker thread (a TGS exchange) into it.
 */
import { randomBytes } from 'node:crypto';
import { Krb5BridgeError } from '../errors';
import { KRB5, KrbCreds, Ptr, cAlloc, cFree, errorMessage, fn, koffi } from './lib';
import { onWorker } from './kdcworker';

/** krb5_parse_name with context c (a pooled context, not the main thread's). */
export function parseWith(c: Ptr, name: string): Ptr {
  const out: [Ptr | null] = [null];
  const code = fn.parse_name(c, name, out) as number;
  if (code !== 0 || !out[0]) throw new Krb5BridgeError('E_KRB5', `krb5_parse_name (${name}): ${errorMessage(code)}`);
  return out[0];
}

/** krb5_get_credentials for `service` into `cc` on a worker thread (a TGS exchange); the ticket's end time. */
export async function addServiceTicket(c: Ptr, cc: Ptr, client: Ptr, service: string): Promise<number> {
  const server = parseWith(c, service);
  const inCreds = cAlloc(koffi.sizeof(KrbCreds));
  const out = cAlloc(8);
  try {
    koffi.encode(inCreds, koffi.offsetof(KrbCreds, 'client'), 'void *', client);
    koffi.encode(inCreds, koffi.offsetof(KrbCreds, 'server'), 'void *', server);
    const code = await onWorker(fn.get_credentials, c, 0, cc, inCreds, out);
    if (code === KRB5.KDC_UNREACH) throw new Krb5BridgeError('E_KDC_UNREACHABLE', `getting a ticket for ${service}: ${errorMessage(code)}`);
    if (code === KRB5.KDC_ERR_S_PRINCIPAL_UNKNOWN) throw new Krb5BridgeError('E_CONFIG', `the KDC does not know the store principal ${service}; check store_principal in the config`);
    if (code !== 0) throw new Krb5BridgeError('E_KRB5', `krb5_get_credentials for ${service}: ${errorMessage(code)} [${code}]`);
    const got = koffi.decode(out, 'void *') as Ptr | null;
    if (!got) return 0;
    const endtime = (koffi.decode(got, KrbCreds) as { times: { endtime: number } }).times.endtime;
    fn.free_creds(c, got);
    return endtime;
  } finally {
    cFree(out);
    cFree(inCreds);
    fn.free_principal(c, server);
  }
}

/**
 * A new MEMORY ccache of context c, named `MEMORY:krb5bridge-<what>-<random>` (so another context
 * of the process can open it by name), holding `creds` (its client's). Returns handle and name.
 */
export function memoryCcache(c: Ptr, client: Ptr, creds: Ptr, what: string): { cc: Ptr; name: string } {
  const name = `MEMORY:krb5bridge-${what}-${randomBytes(12).toString('hex')}`;
  const out: [Ptr | null] = [null];
  let code = fn.cc_resolve(c, name, out) as number;
  if (code !== 0 || !out[0]) throw new Krb5BridgeError('E_KRB5', `krb5_cc_resolve ${name}: ${errorMessage(code)}`);
  const cc = out[0];
  code = fn.cc_initialize(c, cc, client) as number;
  if (code === 0) code = fn.cc_store_cred(c, cc, creds) as number;
  if (code !== 0) {
    fn.cc_destroy(c, cc);
    throw new Krb5BridgeError('E_KRB5', `cannot fill a MEMORY ccache: ${errorMessage(code)}`);
  }
  return { cc, name };
}
