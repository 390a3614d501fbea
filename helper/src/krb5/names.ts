/** Principal names: parsing, the host-based service name, principal -> local user name, the primary TGT. */
import { Krb5BridgeError } from '../errors';
import { KRB5, Ptr, check, ctx, fn, outPtr, unparse } from './lib';
import type { TicketInfo } from './types';

const LNAME_MAX = 1024;
const NT_SRV_HST = 3;

/** krb5_parse_name; free the result with fn.free_principal. */
export function parsePrincipal(name: string): Ptr {
  const c = ctx();
  return outPtr((o) => fn.parse_name(c, name, o), 'krb5_parse_name', name);
}

/** `SERVICE/<this host's name>` as libkrb5 names it (krb5_sname_to_principal, like sshd's host/...). */
export function hostServicePrincipal(service: string, host: string | null = null): string {
  const c = ctx();
  const p = outPtr((o) => fn.sname_to_principal(c, host, service, NT_SRV_HST, o), 'krb5_sname_to_principal', `${service}/${host ?? '(this host)'}`);
  try {
    return unparse(p);
  } finally {
    fn.free_principal(c, p);
  }
}

/** krb5_aname_to_localname; undefined when the principal maps to no local name. */
export function anameToLocalname(principal: string): string | undefined {
  const c = ctx();
  const princ = parsePrincipal(principal);
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
