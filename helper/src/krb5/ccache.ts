/** Reading TGTs out of any ccache, and turning a KRB-CRED into FILE-format ccache bytes. */
import { lstatSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Krb5BridgeError } from '../errors';
import { KRB5, Ptr, cFree, check, ctx, errorMessage, fn, koffi, outPtr, unparse } from './lib';
import { allocCreds, decodeCreds, freeCreds, isTgtName, ticketInfo } from './creds';
import { mkKrbCred, withKrbCred } from './krbcred';
import type { CredBundle, TicketInfo } from './types';

function fullName(cc: Ptr): string {
  const c = ctx();
  const out: [Ptr | null] = [null];
  if (fn.cc_get_full_name(c, cc, out) !== 0 || !out[0]) return '(unknown ccache)';
  try {
    return koffi.decode.string(out[0]);
  } finally {
    fn.free_string(c, out[0]);
  }
}

function openCcache(name: string | undefined): Ptr {
  const c = ctx();
  const out: [Ptr | null] = [null];
  const code = (name === undefined ? fn.cc_default(c, out) : fn.cc_resolve(c, name, out)) as number;
  if (code !== 0 || !out[0]) {
    throw new Krb5BridgeError('E_NO_TICKET', `cannot resolve credential cache ${name ?? '(default)'}: ${errorMessage(code)}`);
  }
  return out[0];
}

/**
 * The TGT(s) of the ccache's principal as a KRB-CRED. Skips config entries, service tickets,
 * other clients' tickets and expired TGTs.
 */
export function readTgts(ccacheName?: string): CredBundle {
  const c = ctx();
  const cc = openCcache(ccacheName);
  const kept: Ptr[] = [];
  try {
    const where = fullName(cc);
    const pOut: [Ptr | null] = [null];
    const pCode = fn.cc_get_principal(c, cc, pOut) as number;
    if (pCode !== 0 || !pOut[0]) throw new Krb5BridgeError('E_NO_TICKET', `credential cache ${where}: ${errorMessage(pCode)}`);
    const princ = pOut[0];
    let expired = 0;
    let others = 0;
    let principal = '';
    try {
      principal = unparse(princ);
      // A NULL cursor is valid (an empty MEMORY cache): krb5_cc_next_cred then says CC_END.
      const cursor: [Ptr | null] = [null];
      check('krb5_cc_start_seq_get', fn.cc_start_seq_get(c, cc, cursor), where);
      try {
        const now = Math.floor(Date.now() / 1000);
        for (;;) {
          const cred = allocCreds();
          const code = fn.cc_next_cred(c, cc, cursor, cred) as number;
          if (code !== 0) {
            cFree(cred);
            if (code === KRB5.CC_END) break;
            check('krb5_cc_next_cred', code, where);
          }
          const d = decodeCreds(cred);
          const isTgt =
            !fn.is_config_principal(c, d.server) && fn.principal_compare(c, d.client, princ) && isTgtName(ticketInfo(cred).server);
          if (!isTgt) {
            if (!fn.is_config_principal(c, d.server)) others++;
            freeCreds(cred);
          } else if (d.times.endtime <= now) {
            expired++;
            freeCreds(cred);
          } else kept.push(cred);
        }
      } finally {
        fn.cc_end_seq_get(c, cc, cursor);
      }
    } finally {
      fn.free_principal(c, princ);
    }
    if (kept.length === 0) {
      if (expired > 0) throw new Krb5BridgeError('E_TICKET_EXPIRED', `every TGT of ${principal} in ${where} has expired`);
      if (others > 0) throw new Krb5BridgeError('E_NO_TGT', `${where} holds only service tickets for ${principal}`);
      throw new Krb5BridgeError('E_NO_TICKET', `credential cache ${where} holds no tickets`);
    }
    const tickets: TicketInfo[] = kept.map(ticketInfo);
    return { principal, tickets, krbcred: mkKrbCred(kept) };
  } finally {
    kept.forEach(freeCreds);
    fn.cc_close(c, cc);
  }
}

/** Decode a KRB-CRED: its client principal and tickets. Garbage is E_PROTOCOL. */
export function parseKrbCred(krbcred: Buffer): { principal: string; tickets: TicketInfo[] } {
  return withKrbCred(krbcred, (creds) => {
    const tickets = creds.map(ticketInfo);
    const principal = tickets[0]!.client;
    const other = tickets.find((t) => t.client !== principal);
    if (other) throw new Krb5BridgeError('E_PROTOCOL', `KRB-CRED message mixes clients ${principal} and ${other.client}`);
    return { principal, tickets };
  });
}

/** A tmpfs when there is one, so key material written in passing stays off disk. */
function privateTempBase(): string {
  try {
    if (statSync('/dev/shm').isDirectory()) return '/dev/shm';
  } catch {
    /* fall back to /tmp */
  }
  return '/tmp';
}

/**
 * FILE-format ccache bytes for the creds in a KRB-CRED, written by libkrb5 itself (so the format is
 * always what klist/kvno/gssd read) in a fresh private directory, read back, removed.
 */
export function ccacheBytesFromKrbCred(krbcred: Buffer): Buffer {
  return withKrbCred(krbcred, (creds) => {
    const c = ctx();
    const dir = mkdtempSync(join(privateTempBase(), 'krb5bridge-'));
    try {
      const st = lstatSync(dir);
      if (!st.isDirectory() || st.uid !== process.geteuid!() || (st.mode & 0o077) !== 0) {
        throw new Krb5BridgeError('E_UNSAFE_PATH', `temporary directory ${dir} is not private (mode ${(st.mode & 0o7777).toString(8)})`);
      }
      const path = join(dir, 'ccache');
      const cc = outPtr((o) => fn.cc_resolve(c, `FILE:${path}`, o), 'krb5_cc_resolve', path);
      try {
        check('krb5_cc_initialize', fn.cc_initialize(c, cc, decodeCreds(creds[0]!).client), path);
        for (const cred of creds) check('krb5_cc_store_cred', fn.cc_store_cred(c, cc, cred), path);
      } finally {
        fn.cc_close(c, cc);
      }
      const bytes = readFileSync(path);
      writeFileSync(path, Buffer.alloc(bytes.length)); // the session key does not linger in tmpfs pages
      return bytes;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

/** Destroy a ccache by name (a session's MEMORY ccache); a missing one is no error. */
export function destroyCcache(name: string): void {
  const c = ctx();
  const out: [Ptr | null] = [null];
  if (fn.cc_resolve(c, name, out) === 0 && out[0]) fn.cc_destroy(c, out[0]);
}
