/** krb5_creds in C memory: allocate, decode to TicketInfo, free. */
import { KrbCreds, DecodedCreds, Ptr, cAlloc, cFree, ctx, fn, koffi, unparse } from './lib';
import type { TicketInfo } from './types';

/** klist -f letters, in klist's order (MIT src/clients/klist/klist.c). */
const FLAG_LETTERS: [number, string][] = [
  [0x40000000, 'F'],
  [0x20000000, 'f'],
  [0x10000000, 'P'],
  [0x08000000, 'p'],
  [0x04000000, 'D'],
  [0x02000000, 'd'],
  [0x01000000, 'i'],
  [0x00800000, 'R'],
  [0x00400000, 'I'],
  [0x00100000, 'H'],
  [0x00200000, 'A'],
  [0x00080000, 'T'],
  [0x00040000, 'O'],
  [0x00008000, 'a'],
];

export const TKT_FLG_RENEWABLE = 0x00800000;

export function flagLetters(flags: number): string {
  return FLAG_LETTERS.filter(([bit]) => (flags & bit) !== 0)
    .map(([, l]) => l)
    .join('');
}

/** A zeroed krb5_creds the library can fill (krb5_cc_next_cred). */
export function allocCreds(): Ptr {
  return cAlloc(koffi.sizeof(KrbCreds));
}

/** Free the contents the library put in a creds we allocated, then the struct itself. */
export function freeCreds(p: Ptr): void {
  fn.free_cred_contents(ctx(), p); // also wipes the session key
  cFree(p);
}

export function decodeCreds(p: Ptr): DecodedCreds {
  return koffi.decode(p, KrbCreds) as DecodedCreds;
}

export function ticketInfo(p: Ptr): TicketInfo {
  const c = decodeCreds(p);
  const t = c.times;
  return {
    client: unparse(c.client),
    server: unparse(c.server),
    authtime: t.authtime,
    // As klist: a ticket without a start time starts at its auth time.
    starttime: t.starttime || t.authtime,
    endtime: t.endtime,
    renew_till: t.renew_till,
    flags: flagLetters(c.ticket_flags),
  };
}

/** krbtgt/X@Y with exactly two components. */
export function isTgtName(server: string): boolean {
  return /^krbtgt\/[^/@]+@[^/@]+$/.test(server);
}
