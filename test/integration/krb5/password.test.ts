/**
 * Password login through the real libkrb5 against a real MIT KDC (krb5/password.ts): a verified,
 * forwardable, renewable TGT in a MEMORY ccache with the store's ticket beside it; a wrong
 * password and an unknown user are the same E_LOGIN_FAILED; a KDC whose answer does not verify
 * with the gateway's key (a spoofed KDC, simulated by a stale keytab) is refused; a stopped KDC is
 * E_KDC_UNREACHABLE within the timeout; the event loop keeps running during the exchanges.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { haveKdc, setNativeEnv, startKdc, TestKdc } from '../../lib/kdc';
import type * as P from '../../../helper/src/krb5/password';
import type * as K from '../../../helper/src/krb5';
import type * as C from '../../../helper/src/krb5/ccache';
import { Krb5BridgeError } from '../../../helper/src/errors';

const describeKdc = haveKdc() ? describe : describe.skip;

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof Krb5BridgeError) return `${e.code}: ${e.message}`;
    throw e;
  }
  throw new Error('expected a Krb5BridgeError, nothing was thrown');
}

describeKdc('password login with a real KDC', () => {
  let kdc: TestKdc;
  let p: typeof P;
  let k: typeof K;
  let cc: typeof C;
  let login: P.KdcLogin;
  let keytab: K.Keytab;
  const PASSWORD = 'Corr3ct horse battery';

  beforeAll(async () => {
    kdc = await startKdc();
    setNativeEnv('KRB5_CONFIG', kdc.krb5Config);
    p = await import('../../../helper/src/krb5/password');
    k = await import('../../../helper/src/krb5');
    cc = await import('../../../helper/src/krb5/ccache');
    kdc.kadmin(`addprinc -pw "${PASSWORD}" +renewable pwuser@${kdc.realm}`);
    kdc.kadmin(`addprinc -randkey HTTP/localhost@${kdc.realm}`);
    kdc.kadmin(`ktadd -k ${kdc.dir}/kdc/gw.keytab HTTP/localhost@${kdc.realm}`);
    chmodSync(`${kdc.dir}/kdc/gw.keytab`, 0o600);
    keytab = k.Keytab.open(`${kdc.dir}/kdc/gw.keytab`, `HTTP/localhost@${kdc.realm}`, 'gateway');
    login = new p.KdcLogin({
      keytab,
      principal: `HTTP/localhost@${kdc.realm}`,
      storePrincipal: `krb5bridge/localhost@${kdc.realm}`,
      renewLifetime: 3600 * 24,
      policy: { concurrency: 4, perSecond: 50, timeoutMs: 5000, maxOutstanding: 8 },
    });
  });
  afterAll(() => {
    keytab?.close();
    kdc?.stop();
  });

  test('the right password gives a verified, forwardable, renewable TGT and the store ticket in a MEMORY ccache', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const t = await login.password('pwuser', PASSWORD);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0); // the event loop ran while the KDC answered
    expect(t.principal).toBe(`pwuser@${kdc.realm}`);
    expect(t.ccache).toMatch(/^MEMORY:krb5bridge-gw-[0-9a-f]{24}$/);
    expect(t.ticket.server).toBe(`krbtgt/${kdc.realm}@${kdc.realm}`);
    expect(t.ticket.flags).toContain('F');
    expect(t.ticket.flags).toContain('R');
    expect(t.ticket.renew_till).toBeGreaterThan(t.ticket.endtime);
    // The KRB-CRED holds exactly that TGT; the ccache holds it and the store's ticket.
    expect(k.parseKrbCred(t.krbcred).tickets.map((x) => x.server)).toEqual([`krbtgt/${kdc.realm}@${kdc.realm}`]);
    expect(k.readTgts(t.ccache).principal).toBe(`pwuser@${kdc.realm}`);
    const path = join(kdc.dir, 'pw.ccache');
    writeFileSync(path, k.ccacheBytesFromKrbCred(t.krbcred), { mode: 0o600 });
    expect(execFileSync('kvno', ['-c', `FILE:${path}`, `host/localhost@${kdc.realm}`], { env: kdc.env }).toString()).toContain('kvno =');
    cc.destroyCcache(t.ccache);
    expect(() => k.readTgts(t.ccache)).toThrow(/No credentials cache found/);
  });

  test('a wrong password and an unknown user get the same answer', async () => {
    const wrong = await codeOf(login.password('pwuser', 'wrong'));
    const unknown = await codeOf(login.password('nosuchuser', PASSWORD));
    expect(wrong).toBe('E_LOGIN_FAILED: login failed: unknown user name or wrong password; check both and try again');
    expect(unknown).toBe(wrong);
    expect(await codeOf(login.password('bad@REALM', PASSWORD))).toBe(wrong);
  });

  test('a KDC answer that does not verify with the gateway key is refused (stale keytab = spoofed KDC)', async () => {
    const stale = `${kdc.dir}/kdc/stale.keytab`;
    copyFileSync(`${kdc.dir}/kdc/gw.keytab`, stale);
    chmodSync(stale, 0o600);
    kdc.kadmin(`cpw -randkey HTTP/localhost@${kdc.realm}`); // the KDC's key changes; the keytab keeps the old one
    kdc.kadmin(`ktadd -k ${kdc.dir}/kdc/gw2.keytab HTTP/localhost@${kdc.realm}`);
    const staleKt = k.Keytab.open(stale, `HTTP/localhost@${kdc.realm}`, 'gateway');
    const l2 = new p.KdcLogin({
      keytab: staleKt,
      principal: `HTTP/localhost@${kdc.realm}`,
      storePrincipal: `krb5bridge/localhost@${kdc.realm}`,
      policy: { concurrency: 1, perSecond: 50, timeoutMs: 5000, maxOutstanding: 8 },
    });
    try {
      expect(await codeOf(l2.password('pwuser', PASSWORD))).toMatch(/^E_AUTH: authentication failed: the KDC's answer for pwuser could not be verified with the gateway's key for HTTP\/localhost@/);
    } finally {
      staleKt.close();
    }
  });

  test('a stopped KDC is E_KDC_UNREACHABLE', async () => {
    kdc.halt();
    expect(await codeOf(login.password('pwuser', PASSWORD))).toMatch(/^E_KDC_UNREACHABLE: /);
  }, 40_000);
});
