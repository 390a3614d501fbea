/**
 * A keytab that holds a principal's key, opened through the one trusted-path check: a regular file
 * owned by root (or us), not readable by group or others (it is the key of a service or a host),
 * in directories nobody else can write. libkrb5 then reads the very file that was checked, through
 * the open descriptor (`FILE:/proc/self/fd/N`), not whatever the path names later.
 */
import { closeSync } from 'node:fs';
import { Krb5BridgeError } from '../errors';
import { openTrusted } from '../util/trustedpath';
import { KrbKeytabEntry, Ptr, cAlloc, cFree, ctx, errorMessage, fn, koffi, outPtr } from './lib';
import { parsePrincipal } from './names';

export class Keytab {
  private constructor(
    /** The keytab's path, for messages. */
    readonly name: string,
    readonly handle: Ptr,
    private fd: number | undefined,
  ) {}

  /** Open `path` and check it holds a key for `principal`; `purpose` names it in messages ("store", "client"). */
  static open(path: string, principal: string, purpose: string): Keytab {
    const { fd } = openTrusted(path, { what: `${purpose} keytab`, type: 'file', forbid: 0o077, code: 'E_CONFIG', modeRemedy: `run chmod 600 ${path}` });
    const c = ctx();
    let kt: Ptr;
    try {
      kt = outPtr((o) => fn.kt_resolve(c, `FILE:/proc/self/fd/${fd}`, o), 'krb5_kt_resolve', path);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    const keytab = new Keytab(path, kt, fd);
    const princ = parsePrincipal(principal);
    const entry = cAlloc(koffi.sizeof(KrbKeytabEntry));
    try {
      const code = fn.kt_get_entry(c, kt, princ, 0, 0, entry) as number;
      if (code !== 0) {
        keytab.close();
        throw new Krb5BridgeError('E_CONFIG', `${purpose} keytab ${path} holds no key for ${principal}: ${errorMessage(code)}; add one with kadmin ktadd -k ${path} ${principal}`);
      }
      fn.free_keytab_entry_contents(c, entry);
    } finally {
      cFree(entry);
      fn.free_principal(c, princ);
    }
    return keytab;
  }

  /**
   * The keytab name for other krb5 contexts (the gateway's worker threads, GSSAPI's cred store):
   * the checked file through its open descriptor.
   */
  descriptorName(): string {
    if (this.fd === undefined) throw new Krb5BridgeError('E_INTERNAL', `keytab ${this.name} is closed`);
    return `FILE:/proc/self/fd/${this.fd}`;
  }

  close(): void {
    if (this.fd === undefined) return;
    fn.kt_close(ctx(), this.handle);
    closeSync(this.fd);
    this.fd = undefined;
  }
}
