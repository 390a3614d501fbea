/**
 * Renewing a TGT at the KDC through the real libkrb5: the TGT from a KRB-CRED goes into a private
 * MEMORY ccache, krb5_get_renewed_creds asks the KDC (a TGS-REQ with the RENEW option), and the
 * renewed TGT comes back as a KRB-CRED.
 *
 * A KDC may be down, or hung (stopped: connections accepted, nothing answered; libkrb5 then waits
 * about 30 s). So each exchange runs off the event loop through kdcworker.ts: on a worker thread
 * with a krb5_context of its own, a few at once and at a bounded rate (a KDC coming back after an
 * outage meets the backlog spread out), given up after its own timeout (the caller gets
 * E_KDC_UNREACHABLE and goes on; the abandoned call finishes on its thread, its renewed TGT is
 * wiped), and with the calls still waiting for a KDC capped.
 */
import { randomBytes } from 'node:crypto';
import { Krb5BridgeError } from '../errors';
import { Ptr, cFree, errorMessage, fn, unparse } from './lib';
import { allocCreds, decodeCreds, ticketInfo, TKT_FLG_RENEWABLE } from './creds';
import { mkKrbCred, withKrbCred } from './krbcred';
import { KdcWorkerPolicy, KdcWorkers, onWorker } from './kdcworker';
import type { TicketInfo } from './types';

/** com_err codes (krb5 table base -1765328384) that mean "this ticket will not be renewed again". */
const PERMANENT: Record<number, string> = {
  [-1765328384 + 6]: 'the client principal is unknown to the KDC',
  [-1765328384 + 12]: 'the KDC policy refuses the renewal',
  [-1765328384 + 13]: 'the ticket is not renewable',
  [-1765328384 + 18]: "the client's credentials were revoked",
  [-1765328384 + 32]: 'the ticket has expired',
};

export interface RenewedTgt {
  /** A KRB-CRED with the renewed TGT only. */
  krbcred: Buffer;
  ticket: TicketInfo;
}

/** KRB5_KDC_UNREACH: "Cannot contact any KDC for requested realm". */
const KDC_UNREACH = -1765328228;

/** How renewals meet the KDC: exchanges at once, started per second, the timeout of one. */
export type RenewPolicy = Omit<KdcWorkerPolicy, 'maxOutstanding'>;

/** Contexts need nothing attached; at most 16 renewals outstanding (within libuv's pool). */
const renewals = new KdcWorkers<undefined>({ concurrency: 4, perSecond: 20, timeoutMs: 10_000 }, () => undefined, { exchanges: 'renewals', kdcMayBe: 'hung' });

/** Set how renewals meet the KDC (the daemons at start, from renew_* config keys). */
export function configureRenewals(p: Partial<RenewPolicy>): void {
  renewals.configure(p);
}

/** The TGT of the client's own realm in a decoded KRB-CRED, else the first krbtgt. */
function pickTgt(creds: Ptr[]): Ptr {
  const infos = creds.map(ticketInfo);
  const client = infos[0]!.client;
  const realm = client.slice(client.lastIndexOf('@') + 1);
  const i = infos.findIndex((t) => t.server === `krbtgt/${realm}@${realm}`);
  const j = i >= 0 ? i : infos.findIndex((t) => t.server.startsWith('krbtgt/'));
  if (j < 0) throw new Krb5BridgeError('E_NO_TGT', `the credential of ${client} holds no ticket-granting ticket`);
  return creds[j]!;
}

/** Throws E_NOT_RENEWABLE / E_TICKET_EXPIRED when asking the KDC is pointless. */
export function checkRenewable(t: TicketInfo, flags: number, now: number): void {
  if (t.endtime <= now) throw new Krb5BridgeError('E_TICKET_EXPIRED', `the TGT of ${t.client} expired at ${iso(t.endtime)}`);
  if (!(flags & TKT_FLG_RENEWABLE) || t.renew_till === 0) throw new Krb5BridgeError('E_NOT_RENEWABLE', `the TGT of ${t.client} is not renewable`);
  if (t.renew_till <= now) throw new Krb5BridgeError('E_NOT_RENEWABLE', `the renew-until time of the TGT of ${t.client} (${iso(t.renew_till)}) has passed`);
  if (t.renew_till <= t.endtime) throw new Krb5BridgeError('E_NOT_RENEWABLE', `the TGT of ${t.client} already lasts until its renew-until time ${iso(t.renew_till)}`);
}

export function iso(t: number): string {
  return new Date(t * 1000).toISOString().replace('.000Z', 'Z');
}

/** Put the TGT in a new MEMORY ccache of context `c`; returns the ccache. */
function memoryCcacheWith(c: Ptr, cred: Ptr): Ptr {
  const out: [Ptr | null] = [null];
  const name = `MEMORY:krb5bridge-renew-${randomBytes(8).toString('hex')}`;
  let code = fn.cc_resolve(c, name, out) as number;
  if (code !== 0 || !out[0]) throw new Krb5BridgeError('E_KRB5', `krb5_cc_resolve ${name}: ${errorMessage(code)}`);
  const cc = out[0];
  code = fn.cc_initialize(c, cc, decodeCreds(cred).client) as number;
  if (code === 0) code = fn.cc_store_cred(c, cc, cred) as number;
  if (code !== 0) {
    fn.cc_destroy(c, cc);
    throw new Krb5BridgeError('E_KRB5', `cannot fill a MEMORY ccache for the renewal: ${errorMessage(code)}`);
  }
  return cc;
}

/** The outcome of krb5_get_renewed_creds, built on the main thread once the worker thread is done. */
function outcome(code: number, out: Ptr, who: string): RenewedTgt {
  if (code === 0) return { krbcred: mkKrbCred([out]), ticket: ticketInfo(out) };
  const why = PERMANENT[code];
  if (why) throw new Krb5BridgeError('E_NOT_RENEWABLE', `the KDC refused to renew the TGT of ${who}: ${why} (${errorMessage(code)})`);
  if (code === KDC_UNREACH) throw new Krb5BridgeError('E_KDC_UNREACHABLE', `krb5_get_renewed_creds for ${who}: ${errorMessage(code)}`);
  throw new Krb5BridgeError('E_KRB5', `krb5_get_renewed_creds for ${who}: ${errorMessage(code)} [${code}]`);
}

/** One renewal with context `c`; tells `named` whose TGT it is before asking the KDC. */
async function renewWith(c: Ptr, krbcred: Buffer, named: (who: string) => void): Promise<RenewedTgt> {
  const now = Math.floor(Date.now() / 1000);
  const cc = withKrbCred(krbcred, (creds) => {
    const tgt = pickTgt(creds);
    checkRenewable(ticketInfo(tgt), decodeCreds(tgt).ticket_flags, now);
    return memoryCcacheWith(c, tgt);
  });
  const out = allocCreds();
  const pOut: [Ptr | null] = [null];
  const pc = fn.cc_get_principal(c, cc, pOut) as number;
  if (pc !== 0 || !pOut[0]) {
    cFree(out);
    fn.cc_destroy(c, cc);
    throw new Krb5BridgeError('E_KRB5', `krb5_cc_get_principal: ${errorMessage(pc)}`);
  }
  const client = pOut[0];
  const who = unparse(client);
  named(who);
  let code: number | undefined;
  try {
    code = await onWorker(fn.get_renewed_creds, c, out, client, cc, null).catch((err: unknown) => {
      throw new Krb5BridgeError('E_KRB5', `krb5_get_renewed_creds for ${who}: ${String(err)}`);
    });
    return outcome(code, out, who);
  } finally {
    if (code === 0) fn.free_cred_contents(c, out); // wipes the session key
    cFree(out);
    fn.free_principal(c, client);
    fn.cc_destroy(c, cc);
  }
}

/**
 * Renew the TGT of a KRB-CRED at the KDC (KRB5_CONFIG says where). Other tickets in the message
 * (cross-realm TGTs) are not carried over. E_NOT_RENEWABLE or E_TICKET_EXPIRED: asking again is
 * pointless; E_KDC_UNREACHABLE (down, hung) or E_KRB5: try again later.
 */
export function renewKrbCred(krbcred: Buffer): Promise<RenewedTgt> {
  let who = '';
  return renewals.run(
    () => `renewing the TGT of ${who}`,
    (w) => renewWith(w.c, krbcred, (name) => (who = name)),
    (r) => r.krbcred.fill(0), // given up on, finished later: the renewed TGT is wiped, unused
  );
}
