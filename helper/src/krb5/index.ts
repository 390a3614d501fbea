/** The Kerberos API of the helper: everything goes through the system libkrb5. */
export type { TicketInfo, CredBundle } from './types';
export { readTgts, parseKrbCred, ccacheBytesFromKrbCred } from './ccache';
export { anameToLocalname, primaryTgt } from './names';
export { flagLetters } from './creds';
export { MAX_KRBCRED_BYTES } from './krbcred';
export { renewKrbCred, checkRenewable, type RenewedTgt } from './renew';
export { ApClient, ApServer, Keytab, hostServicePrincipal, dropHostCache, type ClientIdentity } from './apreq';
