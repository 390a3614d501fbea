/** What the helper knows of a ticket, after libkrb5 decoded it. Times are Unix seconds. */
export interface TicketInfo {
  client: string;
  server: string;
  authtime: number;
  starttime: number;
  endtime: number;
  renew_till: number;
  /** klist -f letters, e.g. "FRIA". */
  flags: string;
}

/** The TGT(s) of one principal, and the KRB-CRED message (unencrypted, key-less) that carries them. */
export interface CredBundle {
  principal: string;
  tickets: TicketInfo[];
  krbcred: Buffer;
}
