/**
 * TGT renewal through the real libkrb5 against a real MIT KDC: a renewed ticket comes back as a
 * KRB-CRED klist/kvno can use, and every case where renewal is pointless is refused with its code
 * before the KDC is asked.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { haveKdc, setNativeEnv, startKdc, TestKdc } from '../../lib/kdc';
import type * as K from '../../../helper/src/krb5';
import { Krb5BridgeError } from '../../../helper/src/errors';

const describeKdc = haveKdc() ? describe : describe.skip;

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof Krb5BridgeError) return `${e.code}: ${e.detail}`;
    throw e;
  }
  throw new Error('expected a Krb5BridgeError, nothing was thrown');
}

const tgsRenewals = (kdc: TestKdc, who: string): number =>
  readFileSync(kdc.log, 'utf8')
    .split('\n')
    .filter((l) => l.includes('TGS_REQ') && l.includes(`ISSUE:`) && l.includes(`, ${who}@${kdc.realm} for krbtgt/`)).length;

describeKdc('renewKrbCred with a real KDC', () => {
  let kdc: TestKdc;
  let k: typeof K;
  const tool = (cmd: string, args: string[]) => execFileSync(cmd, args, { env: kdc.env, stdio: ['ignore', 'pipe', 'pipe'] }).toString();

  beforeAll(async () => {
    kdc = await startKdc();
    setNativeEnv('KRB5_CONFIG', kdc.krb5Config);
    k = await import('../../../helper/src/krb5');
    kdc.addPrincipal('renewme');
  });
  afterAll(() => kdc?.stop());

  test('a renewable TGT is renewed by the KDC: later end time, same renew-until, usable by kvno', async () => {
    const cc = `FILE:${kdc.dir}/cc_renew`;
    kdc.kinit('renewme', cc, ['-l', '1m', '-r', '10m']);
    const before = k.readTgts(cc);
    await new Promise((r) => setTimeout(r, 2100));
    const n0 = tgsRenewals(kdc, 'renewme');
    const renewed = await k.renewKrbCred(before.krbcred);
    expect(tgsRenewals(kdc, 'renewme')).toBe(n0 + 1);
    const t0 = before.tickets[0]!;
    expect(renewed.ticket.client).toBe(`renewme@${kdc.realm}`);
    expect(renewed.ticket.server).toBe(`krbtgt/${kdc.realm}@${kdc.realm}`);
    expect(renewed.ticket.endtime).toBeGreaterThanOrEqual(t0.endtime + 2);
    expect(renewed.ticket.renew_till).toBe(t0.renew_till);
    expect(renewed.ticket.flags).toContain('R');
    // The KRB-CRED round-trips into a FILE ccache that the MIT tools use.
    const path = join(kdc.dir, 'cc_renewed');
    writeFileSync(path, k.ccacheBytesFromKrbCred(renewed.krbcred), { mode: 0o600 });
    tool('kvno', ['-c', `FILE:${path}`, `host/localhost@${kdc.realm}`]);
    expect(k.readTgts(`FILE:${path}`).tickets[0]!.endtime).toBe(renewed.ticket.endtime);
  });

  test('a TGT that is not renewable is E_NOT_RENEWABLE without asking the KDC', async () => {
    const cc = `FILE:${kdc.dir}/cc_norenew`;
    // A principal the KDC never gives renewable tickets (its own flag: the realm's default asks for 7 d).
    kdc.addPrincipal('norenew');
    kdc.kadmin(`modprinc -allow_renewable norenew@${kdc.realm}`);
    kdc.kinit('norenew', cc, ['-l', '1h']);
    const b = k.readTgts(cc);
    expect(b.tickets[0]!.flags).not.toContain('R');
    const n0 = tgsRenewals(kdc, 'norenew');
    expect(await codeOf(k.renewKrbCred(b.krbcred))).toBe(`E_NOT_RENEWABLE: the TGT of norenew@${kdc.realm} is not renewable`);
    expect(tgsRenewals(kdc, 'norenew')).toBe(n0);
  });

  test('a TGT that already lasts until its renew-until is E_NOT_RENEWABLE', async () => {
    const cc = `FILE:${kdc.dir}/cc_full`;
    kdc.kinit('renewme', cc, ['-l', '10m', '-r', '10m']);
    const b = k.readTgts(cc);
    expect(await codeOf(k.renewKrbCred(b.krbcred))).toMatch(new RegExp(`^E_NOT_RENEWABLE: the TGT of renewme@${kdc.realm} already lasts until its renew-until time \\d{4}-`));
  });

  test('garbage is E_PROTOCOL, never a crash', async () => {
    expect(await codeOf(k.renewKrbCred(Buffer.from('not a krb-cred')))).toMatch(/^E_PROTOCOL: not a KRB-CRED message/);
  });

  test('renewals run one at a time and each gets its own answer', async () => {
    const cc = `FILE:${kdc.dir}/cc_many`;
    kdc.kinit('renewme', cc, ['-l', '1m', '-r', '10m']);
    const b = k.readTgts(cc);
    const all = await Promise.all([1, 2, 3, 4].map(() => k.renewKrbCred(b.krbcred)));
    for (const r of all) expect(r.ticket.client).toBe(`renewme@${kdc.realm}`);
  });

  test('an unreachable KDC is E_KDC_UNREACHABLE (try again later), not E_NOT_RENEWABLE', async () => {
    const cc = `FILE:${kdc.dir}/cc_down`;
    kdc.kinit('renewme', cc, ['-l', '1m', '-r', '10m']);
    const b = k.readTgts(cc);
    kdc.halt();
    expect(await codeOf(k.renewKrbCred(b.krbcred))).toMatch(new RegExp(`^E_KDC_UNREACHABLE: krb5_get_renewed_creds for renewme@${kdc.realm}: Cannot contact any KDC`));
  }, 40_000);
});
