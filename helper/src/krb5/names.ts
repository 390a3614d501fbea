/** Principal -> local user name (krb5.conf auth_to_local rules), and picking the primary TGT. */
import { Krb5BridgeError } from '../errors';
import { KRB5, check, ctx, fn, outPtr } from './lib';
import type { TicketInfo } from './types';

const LNAME_MAX = 1024;

/** krb5_aname_to_localname; undefined when the principal maps to no local name. */
export function anameToLocalname(principal: string): string | undefined {
  const c = ctx();
  const princ = outPtr((o) => fn.parse_name(c, principal, o), 'krb5_parse_name', principal);
  try {
    const buf = Buffer.alloc(LNAME_MAX);
    const code = fn.aname_to_localname(c, princ, LNAME_MAX, buf) as number;
    if (code === KRB5.LNAME_NOTRANS || code === KRB5.NO_LOCALNAME) return undefined;
    check('krb5_aname_to_localname', code, principal);
    const end = buf.indexOf(0);
    return buf.toString('utf8', 0, end < 0 ? LNAME_MAX : end);
  } finally {
    fn.free_principal(c, princ);
  }
}

/** The krbtgt of the client's own realm, else the first ticket. */
export function primaryTgt(info: { principal: string; tickets: TicketInfo[] }): TicketInfo {
  const realm = info.principal.slice(info.principal.lastIndexOf('@') + 1);
  const own = info.tickets.find((t) => t.server === `krbtgt/${realm}@${realm}`);
  const first = own ?? info.tickets[0];
  if (!first) throw new Krb5BridgeError('E_NO_TGT', `no ticket-granting ticket for ${info.principal}`);
  return first;
}

