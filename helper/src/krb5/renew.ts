/**
 * Renewing a TGT at the KDC through the real libkrb5: the TGT from a KRB-CRED goes into a private
 * MEMORY ccache, krb5_get_renewed_creds asks the KDC (a TGS-REQ with the RENEW option), and the
 * renewed TGT comes back as a KRB-CRED. The KDC exchange runs on one of koffi's worker threads
 * (a daemon must not stall on a slow KDC) with a krb5_context of its own (a context is not for
 * two threads at once); renewals are serialised, one at a time per process.
 */
import { randomBytes } from 'node:crypto';
import { Krb5BridgeError } from '../errors';
import { AsyncKrbFn, Ptr, cFree, errorMessage, fn, newContext, unparse } from './lib';
import { allocCreds, decodeCreds, ticketInfo, TKT_FLG_RENEWABLE } from './creds';
import { mkKrbCred, withKrbCred } from './krbcred';
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

/** The renewals' own context: the KDC exchange runs on a worker thread, never beside main-thread calls. */
let renewCtx: Ptr | undefined;
function rctx(): Ptr {
  renewCtx ??= newContext();
  return renewCtx;
}

let queue: Promise<unknown> = Promise.resolve();

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

/** Put the TGT in a new MEMORY ccache of the renewal context; returns the ccache. */
function memoryCcacheWith(cred: Ptr): Ptr {
  const c = rctx();
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

function callAsync(f: AsyncKrbFn, ...args: unknown[]): Promise<number> {
  return new Promise((resolve, reject) => f.async(...args, (err: unknown, res: number) => (err ? reject(err) : resolve(res))));
}

async function renewOnce(krbcred: Buffer, now: number): Promise<RenewedTgt> {
  const c = rctx();
  const cc = withKrbCred(krbcred, (creds) => {
    const tgt = pickTgt(creds);
    checkRenewable(ticketInfo(tgt), decodeCreds(tgt).ticket_flags, now);
    return memoryCcacheWith(tgt);
  });
  let client: Ptr | undefined;
  const out = allocCreds();
  let filled = false;
  try {
    const pOut: [Ptr | null] = [null];
    const pc = fn.cc_get_principal(c, cc, pOut) as number;
    if (pc !== 0 || !pOut[0]) throw new Krb5BridgeError('E_KRB5', `krb5_cc_get_principal: ${errorMessage(pc)}`);
    client = pOut[0];
    const who = unparse(client);
    const code = await callAsync(fn.get_renewed_creds, c, out, client, cc, null);
    if (code !== 0) {
      const why = PERMANENT[code];
      if (why) throw new Krb5BridgeError('E_NOT_RENEWABLE', `the KDC refused to renew the TGT of ${who}: ${why} (${errorMessage(code)})`);
      throw new Krb5BridgeError('E_KRB5', `krb5_get_renewed_creds for ${who}: ${errorMessage(code)} [${code}]`);
    }
    filled = true;
    return { krbcred: mkKrbCred([out]), ticket: ticketInfo(out) };
  } finally {
    if (filled) fn.free_cred_contents(c, out); // wipes the session key
    cFree(out);
    if (client) fn.free_principal(c, client);
    fn.cc_destroy(c, cc);
  }
}

/**
 * Renew the TGT of a KRB-CRED at the KDC (KRB5_CONFIG says where). Other tickets in the message
 * (cross-realm TGTs) are not carried over. E_NOT_RENEWABLE or E_TICKET_EXPIRED: asking again is
 * pointless; E_KRB5 (KDC unreachable, ...): try again later.
 */
export function renewKrbCred(krbcred: Buffer): Promise<RenewedTgt> {
  const next = queue.then(() => renewOnce(krbcred, Math.floor(Date.now() / 1000)));
  queue = next.catch(() => undefined);
  return next;
}
