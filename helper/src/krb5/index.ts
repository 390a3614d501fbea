/** The Kerberos API of the helper: everything goes through the system libkrb5 (lib.ts, the one binding table). */
export type { TicketInfo, CredBundle } from './types';
export { readTgts, parseKrbCred, ccacheBytesFromKrbCred } from './ccache';
export { anameToLocalname, primaryTgt, parsePrincipal, hostServicePrincipal } from './names';
export { flagLetters } from './creds';
export { MAX_KRBCRED_BYTES } from './krbcred';
export { renewKrbCred, configureRenewals, checkRenewable, iso, type RenewedTgt, type RenewPolicy } from './renew';
export { ApClient, ApServer, type ClientIdentity } from './ap';
export { Keytab } from './keytab';
export { dropHostCache, fetchHostTicket, hostTicketReady } from './hostcreds';
export { defaultRealm, kdcClockOffset, keytabAccepts } from './probe';
