/**
 * The AP exchange and KRB-PRIV layer (helper/src/krb5.ts) against a real MIT KDC: mutual
 * authentication, a wrong service key failing closed, replayed AP-REQs and messages, tampered
 * ciphertext, host keytab identities. Nothing is mocked: libkrb5 makes and checks every byte.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { haveKdc, setNativeEnv, startKdc, TestKdc } from '../../lib/kdc';
import type * as A from '../../../helper/src/krb5';
import { Krb5BridgeError } from '../../../helper/src/errors';

const describeKdc = haveKdc() ? describe : describe.skip;

function refusal(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (e) {
    if (e instanceof Krb5BridgeError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected a Krb5BridgeError, nothing was thrown');
}

describeKdc('krb5 AP exchange with a real KDC', () => {
  let kdc: TestKdc;
  let a: typeof A;
  let svc: string;
  let goodKt: string;
  let wrongKt: string;
  let hostKt: string;
  let aliceCc: string;
  const kadmin = (q: string) => execFileSync('/usr/sbin/kadmin.local', ['-r', kdc.realm, '-q', q], { env: kdc.env, stdio: ['ignore', 'pipe', 'pipe'] });

  beforeAll(async () => {
    kdc = await startKdc();
    setNativeEnv('KRB5_CONFIG', kdc.krb5Config);
    a = await import('../../../helper/src/krb5');
    svc = `krb5bridge/localhost@${kdc.realm}`;
    goodKt = join(kdc.dir, 'store.keytab');
    wrongKt = join(kdc.dir, 'wrong.keytab');
    hostKt = join(kdc.dir, 'node.keytab');
    kadmin(`addprinc -randkey ${svc}`);
    kadmin(`ktadd -k ${goodKt} -norandkey ${svc}`);
    // Same principal name and kvno, a different key: a store that does not hold the real key.
    execFileSync('/usr/bin/ktutil', [], {
      env: kdc.env,
      input: `addent -password -p ${svc} -k 1 -e aes256-cts-hmac-sha1-96\nnot-the-key\nwkt ${wrongKt}\nquit\n`,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    kadmin(`addprinc -randkey host/node1.example@${kdc.realm}`);
    kadmin(`ktadd -k ${hostKt} host/node1.example@${kdc.realm}`);
    for (const f of [goodKt, wrongKt, hostKt]) chmodSync(f, 0o600);
    kdc.addPrincipal('alice');
    aliceCc = `FILE:${join(kdc.dir, 'alice.cc')}`;
    kdc.kinit('alice', aliceCc);
  });
  afterAll(() => kdc?.stop());

  function handshake(identity: A.ClientIdentity, kt = goodKt) {
    const keytab = a.Keytab.open(kt, svc, 'store');
    const princ = a.parsePrincipal(svc);
    const { session: client, apReq } = a.ApClient.start(identity, svc);
    const { session: server, client: who, apRep } = a.ApServer.accept(apReq, princ, keytab);
    return { client, server, who, apReq, apRep, keytab };
  }

  test('mutual authentication, then sealed messages both ways', () => {
    const h = handshake({ kind: 'ccache', ccache: aliceCc });
    expect(h.who).toBe(`alice@${kdc.realm}`);
    h.client.verifyReply(h.apRep, svc);
    const req = h.client.seal(Buffer.from('{"op":"ping"}'));
    expect(req.includes(Buffer.from('ping'))).toBe(false); // encrypted, not just signed
    expect(h.server.open(req, 'request').toString()).toBe('{"op":"ping"}');
    const resp = h.server.seal(Buffer.from('pong'));
    expect(h.client.open(resp, 'answer').toString()).toBe('pong');
    // A second round keeps the sequence numbers in step.
    expect(h.server.open(h.client.seal(Buffer.from('two')), 'request').toString()).toBe('two');
    h.client.close();
    h.server.close();
    h.keytab.close();
  });

  test('a host keytab identity authenticates as host/<node>', () => {
    const h = handshake({ kind: 'keytab', keytab: hostKt, principal: `host/node1.example@${kdc.realm}` });
    expect(h.who).toBe(`host/node1.example@${kdc.realm}`);
    h.client.verifyReply(h.apRep, svc);
  });

  test('a store with the wrong key cannot accept the AP-REQ nor forge an AP-REP', () => {
    const keytab = a.Keytab.open(wrongKt, svc, 'store');
    const { session: client, apReq } = a.ApClient.start({ kind: 'ccache', ccache: aliceCc }, svc);
    const r = refusal(() => a.ApServer.accept(apReq, a.parsePrincipal(svc), keytab));
    expect(r.code).toBe('E_AUTH');
    // The AP-REP of another, genuine session is not proof for this one.
    const other = handshake({ kind: 'ccache', ccache: aliceCc });
    const f = refusal(() => client.verifyReply(other.apRep, svc));
    expect(f.code).toBe('E_AUTH');
    expect(f.message).toContain('mutual authentication failed');
    // Garbage is no proof either.
    expect(refusal(() => client.verifyReply(Buffer.from('not an AP-REP'), svc)).code).toBe('E_AUTH');
  });

  test('a replayed AP-REQ is refused by the replay cache', () => {
    const h = handshake({ kind: 'ccache', ccache: aliceCc });
    const r = refusal(() => a.ApServer.accept(h.apReq, a.parsePrincipal(svc), h.keytab));
    expect(r.code).toBe('E_AUTH');
    expect(r.message).toContain('replayed authentication');
  });

  test('a replayed or tampered message is refused', () => {
    const h = handshake({ kind: 'ccache', ccache: aliceCc });
    h.client.verifyReply(h.apRep, svc);
    const m1 = h.client.seal(Buffer.from('first'));
    expect(h.server.open(m1, 'request').toString()).toBe('first');
    const again = refusal(() => h.server.open(m1, 'request'));
    expect(again.code).toBe('E_AUTH');
    expect(again.message).toContain('out of sequence');
    const m2 = h.client.seal(Buffer.from('second'));
    const bad = Buffer.from(m2);
    bad[bad.length - 5]! ^= 0x01;
    const t = refusal(() => h.server.open(bad, 'request'));
    expect(t.code).toBe('E_AUTH');
    expect(t.message).toContain('integrity check failed');
    // A store's own message reflected back to it does not open (per-direction addresses).
    expect(refusal(() => h.server.open(h.server.seal(Buffer.from('echo')), 'request')).code).toBe('E_AUTH');
    // A message sealed in another connection (another subkey) does not open here.
    const o = handshake({ kind: 'ccache', ccache: aliceCc });
    expect(refusal(() => h.server.open(o.client.seal(Buffer.from('x')), 'request')).code).toBe('E_AUTH');
  });

  test('keytabs are checked before use', () => {
    chmodSync(goodKt, 0o644);
    try {
      const r = refusal(() => a.Keytab.open(goodKt, svc, 'store'));
      expect(r.code).toBe('E_CONFIG');
      expect(r.message).toContain(`store keytab ${goodKt} has mode 0644: group or others may access it; run chmod 600 ${goodKt}`);
    } finally {
      chmodSync(goodKt, 0o600);
    }
    const r2 = refusal(() => a.Keytab.open(hostKt, svc, 'store'));
    expect(r2.code).toBe('E_CONFIG');
    expect(r2.message).toContain(`holds no key for ${svc}`);
  });

  test('an unknown store principal says which key to fix', () => {
    const r = refusal(() => a.ApClient.start({ kind: 'ccache', ccache: aliceCc }, `krb5bridge/nowhere@${kdc.realm}`));
    expect(r.code).toBe('E_AUTH');
    expect(r.message).toContain('check store_principal');
  });
});
