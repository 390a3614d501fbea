/**
 * The krb5 module against a real MIT KDC: reading TGTs from several ccache types, KRB-CRED round
 * trips, the ccache libkrb5 writes being usable by klist and kvno, and refusals with exact codes.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { haveKdc, setNativeEnv, startKdc, TestKdc } from '../../lib/kdc';
import type * as K from '../../../helper/src/krb5';
import { Krb5BridgeError } from '../../../helper/src/errors';

const describeKdc = haveKdc() ? describe : describe.skip;
if (!haveKdc()) console.warn('SKIPPING krb5 tests: krb5kdc/kdb5_util/kadmin.local/kinit not installed (apt-get install krb5-kdc krb5-user)');

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof Krb5BridgeError) return e.code;
    throw e;
  }
  throw new Error('expected a Krb5BridgeError, nothing was thrown');
}

describeKdc('krb5 with a real KDC', () => {
  let kdc: TestKdc;
  let k: typeof K;
  let realm: string;
  const tool = (cmd: string, args: string[]) => execFileSync(cmd, args, { env: kdc.env, stdio: ['ignore', 'pipe', 'pipe'] }).toString();

  beforeAll(async () => {
    kdc = await startKdc();
    realm = kdc.realm;
    // libkrb5 reads KRB5_CONFIG once, when the module's context is made: set it first.
    setNativeEnv('KRB5_CONFIG', kdc.krb5Config);
    k = await import('../../../helper/src/krb5');
    kdc.addPrincipal('alice');
  });
  afterAll(() => kdc?.stop());

  test('readTgts reads the TGT of a FILE ccache', () => {
    const cc = `FILE:${kdc.dir}/cc_file`;
    kdc.kinit('alice', cc);
    tool('kvno', ['-c', cc, `host/localhost@${realm}`]); // a service ticket too: must be skipped
    const b = k.readTgts(cc);
    expect(b.principal).toBe(`alice@${realm}`);
    expect(b.tickets).toHaveLength(1);
    const t = b.tickets[0]!;
    expect(t.server).toBe(`krbtgt/${realm}@${realm}`);
    expect(t.client).toBe(`alice@${realm}`);
    expect(t.flags).toBe('FRI');
    const now = Date.now() / 1000;
    expect(t.endtime).toBeGreaterThan(now + 9 * 3600);
    expect(t.renew_till).toBeGreaterThan(now + 6 * 86400);
    expect(Math.abs(t.starttime - now)).toBeLessThan(60);
    expect(b.krbcred.length).toBeGreaterThan(500);
  });

  test('readTgts reads a DIR collection and a KEYRING ccache', () => {
    const dir = join(kdc.dir, 'ccdir');
    mkdirSync(dir, { mode: 0o700 });
    kdc.kinit('alice', `DIR:${dir}`);
    expect(k.readTgts(`DIR:${dir}`).tickets[0]!.server).toBe(`krbtgt/${realm}@${realm}`);
    const ring = `KEYRING:session:k5b${process.pid}`;
    kdc.kinit('alice', ring);
    try {
      expect(k.readTgts(ring).principal).toBe(`alice@${realm}`);
    } finally {
      tool('kdestroy', ['-c', ring]);
    }
  });

  test('readTgts reads a MEMORY ccache filled through libkrb5 in this process; empty MEMORY is E_NO_TICKET', async () => {
    const lib = await import('../../../helper/src/krb5/lib');
    const { withKrbCred } = await import('../../../helper/src/krb5/krbcred');
    const { decodeCreds } = await import('../../../helper/src/krb5/creds');
    const file = `FILE:${kdc.dir}/cc_formem`;
    kdc.kinit('alice', file);
    const bundle = k.readTgts(file);
    const c = lib.ctx();
    const name = `MEMORY:k5b${process.pid}`;
    const cc = lib.outPtr((o) => lib.fn.cc_resolve(c, name, o), 'krb5_cc_resolve');
    try {
      withKrbCred(bundle.krbcred, (creds) => {
        lib.check('krb5_cc_initialize', lib.fn.cc_initialize(c, cc, decodeCreds(creds[0]!).client));
        expect(codeOf(() => k.readTgts(name))).toBe('E_NO_TICKET');
        for (const cred of creds) lib.check('krb5_cc_store_cred', lib.fn.cc_store_cred(c, cc, cred));
      });
      expect(k.readTgts(name).tickets).toEqual(bundle.tickets);
    } finally {
      lib.fn.cc_close(c, cc);
    }
  });

  test('readTgts() without a name uses KRB5CCNAME as libkrb5 resolves it', () => {
    const cc = `FILE:${kdc.dir}/cc_default`;
    kdc.kinit('alice', cc);
    setNativeEnv('KRB5CCNAME', cc);
    expect(k.readTgts().principal).toBe(`alice@${realm}`);
  });

  test('round trip: readTgts -> parseKrbCred -> ccacheBytesFromKrbCred -> klist and kvno work', () => {
    const cc = `FILE:${kdc.dir}/cc_rt`;
    kdc.kinit('alice', cc);
    const b = k.readTgts(cc);
    const parsed = k.parseKrbCred(b.krbcred);
    expect(parsed).toEqual({ principal: b.principal, tickets: b.tickets });
    const bytes = k.ccacheBytesFromKrbCred(b.krbcred);
    expect(bytes.readUInt16BE(0)).toBe(0x0504); // FILE ccache format version 4
    const out = join(kdc.dir, 'written');
    writeFileSync(out, bytes, { mode: 0o600 });
    const klist = tool('klist', ['-f', '-c', out]);
    expect(klist).toContain(`Default principal: alice@${realm}`);
    expect(klist).toContain(`krbtgt/${realm}@${realm}`);
    expect(klist).toContain('Flags: FRI');
    expect(tool('kvno', ['-c', out, `host/localhost@${realm}`])).toContain(`host/localhost@${realm}: kvno = `);
    // the written cache reads back the same through libkrb5
    expect(k.readTgts(`FILE:${out}`).tickets).toEqual(b.tickets);
  });

  test('E_NO_TICKET: missing ccache, empty DIR collection, ccache without credentials', () => {
    expect(codeOf(() => k.readTgts(`FILE:${kdc.dir}/does-not-exist`))).toBe('E_NO_TICKET');
    const empty = join(kdc.dir, 'emptydir');
    mkdirSync(empty, { mode: 0o700 });
    expect(codeOf(() => k.readTgts(`DIR:${empty}`))).toBe('E_NO_TICKET');
    // A FILE ccache (v4) holding only its principal, as after krb5_cc_initialize.
    const p = Buffer.from(realm);
    const hdr = Buffer.from([0x05, 0x04, 0x00, 0x00]);
    const princ = Buffer.concat([u32(1), u32(1), u32(p.length), p, u32(5), Buffer.from('alice')]);
    const file = join(kdc.dir, 'initialised-only');
    writeFileSync(file, Buffer.concat([hdr, princ]));
    let err: unknown;
    try {
      k.readTgts(`FILE:${file}`);
    } catch (e) {
      err = e;
    }
    expect((err as Krb5BridgeError).code).toBe('E_NO_TICKET');
    expect((err as Krb5BridgeError).detail).toContain(file);
  });

  test('E_NO_TGT: a ccache with only a service ticket', () => {
    const cc = `FILE:${kdc.dir}/cc_service`;
    kdc.kinit('alice', cc, ['-S', `host/localhost@${realm}`]);
    expect(codeOf(() => k.readTgts(cc))).toBe('E_NO_TGT');
  });

  test('E_TICKET_EXPIRED: every TGT expired', async () => {
    const cc = `FILE:${kdc.dir}/cc_expired`;
    kdc.kinit('alice', cc, ['-l', '1s']);
    await new Promise((r) => setTimeout(r, 2100));
    expect(codeOf(() => k.readTgts(cc))).toBe('E_TICKET_EXPIRED');
  });

  test('parseKrbCred: garbage, truncated, oversize and empty input are E_PROTOCOL', () => {
    const cc = `FILE:${kdc.dir}/cc_parse`;
    kdc.kinit('alice', cc);
    const good = k.readTgts(cc).krbcred;
    expect(codeOf(() => k.parseKrbCred(Buffer.from('not a KRB-CRED at all')))).toBe('E_PROTOCOL');
    expect(codeOf(() => k.parseKrbCred(good.subarray(0, good.length - 17)))).toBe('E_PROTOCOL');
    expect(codeOf(() => k.parseKrbCred(good.subarray(0, 3)))).toBe('E_PROTOCOL');
    expect(codeOf(() => k.parseKrbCred(Buffer.alloc(0)))).toBe('E_PROTOCOL');
    expect(codeOf(() => k.parseKrbCred(Buffer.alloc(1024 * 1024 + 1, 0x76)))).toBe('E_PROTOCOL');
    expect(codeOf(() => k.ccacheBytesFromKrbCred(Buffer.from([0x76, 0x82, 0xff, 0xff])))).toBe('E_PROTOCOL');
    // random bytes behind a KRB-CRED tag: never a crash
    for (let i = 0; i < 200; i++) {
      const junk = Buffer.concat([Buffer.from([0x76]), randomBytes(1 + (i % 300))]);
      expect(codeOf(() => k.parseKrbCred(junk))).toBe('E_PROTOCOL');
    }
    // Every single-byte corruption and every truncation of a real message: parses or is
    // E_PROTOCOL, never a crash. (libkrb5 1.20 crashes on a KrbCredInfo without pname/sname;
    // the shape check must catch those: flipping the prealm tag's byte was such a crash.)
    const details: string[] = [];
    const attempt = (bad: Buffer) => {
      try {
        k.parseKrbCred(bad);
        k.ccacheBytesFromKrbCred(bad);
      } catch (e) {
        expect((e as Krb5BridgeError).code).toBe('E_PROTOCOL');
        details.push(String((e as Krb5BridgeError).detail));
      }
    };
    for (let i = 0; i < good.length; i++) {
      for (const x of [0xff, 0x01, 0x20]) {
        const bad = Buffer.from(good);
        bad[i] = bad[i]! ^ x;
        attempt(bad);
      }
      attempt(good.subarray(0, i));
    }
    // both layers answered: the shape check and libkrb5's own decoder
    expect(details.some((d) => d.startsWith('not a KRB-CRED message:'))).toBe(true);
    expect(details.some((d) => d.startsWith('not a readable KRB-CRED message:'))).toBe(true);
  });

  test('anameToLocalname follows the default rule; no mapping is undefined', () => {
    expect(k.anameToLocalname(`alice@${realm}`)).toBe('alice');
    expect(k.anameToLocalname('alice@OTHER.EXAMPLE')).toBeUndefined();
    expect(k.anameToLocalname(`host/localhost@${realm}`)).toBeUndefined();
  });

  test('primaryTgt picks the krbtgt of the own realm', () => {
    const t = (server: string) => ({ client: `a@${realm}`, server, authtime: 1, starttime: 1, endtime: 2, renew_till: 3, flags: '' });
    const cross = t(`krbtgt/OTHER@${realm}`);
    const own = t(`krbtgt/${realm}@${realm}`);
    expect(k.primaryTgt({ principal: `a@${realm}`, tickets: [cross, own] })).toBe(own);
    expect(k.primaryTgt({ principal: `a@${realm}`, tickets: [cross] })).toBe(cross);
    expect(codeOf(() => k.primaryTgt({ principal: `a@${realm}`, tickets: [] }))).toBe('E_NO_TGT');
  });

  test('many calls in one process stay correct (no leak-induced failure)', () => {
    const cc = `FILE:${kdc.dir}/cc_loop`;
    kdc.kinit('alice', cc);
    for (let i = 0; i < 300; i++) {
      const b = k.readTgts(cc);
      expect(k.parseKrbCred(b.krbcred).principal).toBe(`alice@${realm}`);
    }
    expect(readFileSync(cc.slice(5)).length).toBeGreaterThan(0);
  });
});

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
