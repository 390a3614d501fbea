/**
 * Kerberos on this host: krb5.conf names a default realm; the clock agrees with the KDC's within
 * the tolerance (krb5.conf `clockskew`, default 300 s), measured with a fresh AS exchange from
 * the host keytab; the host keytab is root's alone and usable (`kvno -k` of its own principal).
 * The store's keytab, when it has one, gets the same keytab check (storehost.ts lists it).
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { defaultRealm, hostServicePrincipal, kdcClockOffset, keytabAccepts } from '../krb5';
import { type CheckGroup, type DoctorContext, type Finding, fail, ok, skip, warn, why } from './types';

/** `clockskew` from the krb5.conf files libkrb5 reads (KRB5_CONFIG, a colon list), else MIT's 300 s. */
export function clockTolerance(): number {
  for (const file of (process.env.KRB5_CONFIG || '/etc/krb5.conf').split(':')) {
    try {
      const m = /^\s*clockskew\s*=\s*(\d+)\s*$/m.exec(readFileSync(file, 'utf8'));
      if (m) return Number(m[1]);
    } catch {
      // a file libkrb5 would skip too
    }
  }
  return 300;
}

/** The keytab and principal this host authenticates with: the client keytab, else the store's own keytab. */
function hostIdentity(ctx: DoctorContext): { keytab: string; principal: () => string } {
  const c = ctx.config;
  if (!readable(c.client_keytab) && c.keytab && readable(c.keytab)) return { keytab: c.keytab, principal: () => c.store_principal ?? hostServicePrincipal('krb5bridge') };
  return { keytab: c.client_keytab, principal: () => c.client_principal ?? hostServicePrincipal('host') };
}

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function realmCheck(): Finding {
  try {
    return ok('krb5.conf', `default realm ${defaultRealm()} (${process.env.KRB5_CONFIG || '/etc/krb5.conf'})`);
  } catch (e) {
    return fail('krb5.conf', why(e), `set default_realm in [libdefaults] of ${process.env.KRB5_CONFIG || '/etc/krb5.conf'}`);
  }
}

function clockCheck(ctx: DoctorContext): Finding {
  const { keytab, principal } = hostIdentity(ctx);
  if (!readable(keytab)) return skip('clock', `cannot measure the offset to the KDC: the keytab ${keytab} is not readable here (run as root)`);
  const tolerance = clockTolerance();
  try {
    const { offset, roundTripMs } = kdcClockOffset(keytab, principal());
    const shown = `${offset >= 0 ? '+' : ''}${offset} s (KDC minus this host; ${roundTripMs} ms exchange; tolerance ${tolerance} s)`;
    const remedy = 'synchronise the clocks with NTP (systemd-timesyncd, chrony) on this host and the KDC';
    if (Math.abs(offset) > tolerance) return fail('clock', `offset to the KDC ${shown}: beyond the tolerance, Kerberos refuses this host's requests`, remedy);
    if (Math.abs(offset) > 5) return warn('clock', `offset to the KDC ${shown}`, remedy);
    return ok('clock', `offset to the KDC ${shown}`);
  } catch (e) {
    // An unsafe keytab is the host-keytab check's finding; this one cannot be measured then.
    if ((e as { code?: string }).code === 'E_CONFIG') return skip('clock', `cannot measure the offset to the KDC with ${keytab}: see the keytab check`);
    return fail('clock', `cannot measure the offset to the KDC: ${why(e)}`, 'check that the KDC answers (kinit -k) and that the keytab holds the current key');
  }
}

/** A keytab readable by root alone and usable end to end. */
export function keytabCheck(name: string, keytab: string, principal: () => string): Finding {
  let p = '(unknown principal)';
  try {
    p = principal();
    keytabAccepts(keytab, p);
    return ok(name, `${keytab} is root's alone and usable: a ticket for ${p} was got and accepted with it`);
  } catch (e) {
    const msg = why(e);
    if (/mode|owned by|hard links|symbolic link/.test(msg)) return fail(name, msg, `chown root:root ${keytab} && chmod 600 ${keytab}`);
    return fail(name, `${keytab} cannot be used for ${p}: ${msg}`, `extract a fresh key (kadmin: ktadd -k ${keytab} ${p}) and check the principal exists in the KDC`);
  }
}

export const kerberosChecks: CheckGroup = {
  roles: ['login', 'compute', 'store', 'gateway'],
  run(ctx) {
    const out = [realmCheck(), clockCheck(ctx)];
    if (ctx.roles.has('compute')) {
      const c = ctx.config;
      out.push(ctx.root ? keytabCheck('host-keytab', c.client_keytab, () => c.client_principal ?? hostServicePrincipal('host')) : skip('host-keytab', 'run as root to check the host keytab'));
    }
    return out;
  },
};
