/**
 * The store's renewer on its own: when it renews (margin, jitter), what it logs, when it gives up,
 * drops, backs off, and that a push landing during a renewal wins. The KDC side (renewKrbCred) is
 * tested against a real KDC in renew.test.ts; here it is a function the test controls.
 */
import { Krb5BridgeError } from '../../../helper/src/errors';
import type { RenewedTgt } from '../../../helper/src/krb5';
import { Renewer } from '../../../helper/src/renewer/renewer';
import type { AuditEvent } from '../../../helper/src/audit/audit';
import type { StoredCredential } from '../../../helper/src/records/types';
import { memoryRecords } from '../../lib/records';

const T = 2_000_000_000;

function rec(uid: number, over: Partial<StoredCredential> = {}): StoredCredential {
  return { uid, principal: `u${uid}@R`, endtime: T + 3600, renew_till: T + 86400, authtime: T - 60, stored_at: T, creds: Buffer.from(`cred${uid}`).toString('base64'), ...over };
}

function setup(opts: { renew?: (b: Buffer) => Promise<RenewedTgt>; margin?: number; leading?: () => boolean } = {}) {
  let now = T;
  const lines: string[] = [];
  const m = memoryRecords((l) => lines.push(l));
  const asked: string[] = [];
  const audited: AuditEvent[] = [];
  const renewer = new Renewer({
    records: m.records,
    log: (l) => lines.push(l),
    audit: { record: (e) => audited.push(e), close: () => undefined },
    marginSeconds: opts.margin ?? 600,
    leadership: opts.leading ? { leading: opts.leading, close: async () => undefined } : undefined,
    now: () => now,
    random: () => 0.999,
    renew:
      opts.renew ??
      (async (b) => {
        asked.push(b.toString());
        return { krbcred: Buffer.from(`renewed-${b.toString()}`), ticket: { client: 'x', server: 'krbtgt/R@R', authtime: T - 60, starttime: now, endtime: now + 3600, renew_till: T + 86400, flags: 'FRI' } };
      }),
  });
  return { ...m, lines, asked, audited, renewer, at: (t: number) => (now = t) };
}

test('renews a margin (plus up to a quarter of it, jittered) before expiry; one KDC request per user', async () => {
  const s = setup();
  await s.seed(rec(1001));
  await s.seed(rec(1002));
  s.at(T + 3600 - 600 - 150); // margin 600 + jitter 149 (random 0.999): due at T+2851
  await s.renewer.cycle();
  expect(s.asked).toEqual([]);
  s.at(T + 2851);
  await s.renewer.cycle();
  expect(s.asked).toEqual(['cred1001', 'cred1002']);
  expect(s.written.map((r) => [r.uid, r.endtime, r.stored_at])).toEqual([
    [1001, T + 2851 + 3600, T + 2851],
    [1002, T + 2851 + 3600, T + 2851],
  ]);
  expect(s.cred(1001)!.creds).toBe(Buffer.from('renewed-cred1001').toString('base64'));
  expect(s.lines[0]).toMatch(/^op=renew uid=1001 principal=u1001@R result=ok endtime=\S+Z renew_till=\S+Z$/);
  // The next cycle at the same time asks nothing: the new records are due an hour later.
  await s.renewer.cycle();
  expect(s.asked).toHaveLength(2);
  expect(s.renewer.kdcRequests).toBe(2);
  // Each renewal is audited as a refresh, no secret in the line.
  expect(s.audited).toEqual([
    { op: 'refresh', result: 'ok', target_uid: 1001, principal: 'u1001@R', mech: 'renewer' },
    { op: 'refresh', result: 'ok', target_uid: 1002, principal: 'u1002@R', mech: 'renewer' },
  ]);
});

test('a short ticket is renewed half way through what it had left when stored', async () => {
  const s = setup();
  await s.seed(rec(1001, { endtime: T + 60, stored_at: T })); // margin min(600, 30) = 30, jitter 7
  s.at(T + 22);
  await s.renewer.cycle();
  expect(s.asked).toEqual([]);
  s.at(T + 23);
  await s.renewer.cycle();
  expect(s.asked).toEqual(['cred1001']);
});

test('renew-until reached: kept while valid (one log line), then dropped (one log line); no KDC request', async () => {
  const s = setup();
  await s.seed(rec(1001, { endtime: T + 60, renew_till: T + 60 }));
  s.at(T + 40);
  await s.renewer.cycle();
  await s.renewer.cycle();
  expect(s.asked).toEqual([]);
  expect(s.lines).toEqual([
    'op=renew uid=1001 principal=u1001@R result=E_NOT_RENEWABLE its renew-until time 2033-05-18T03:34:20Z is reached; kept until it expires at 2033-05-18T03:34:20Z, then dropped',
  ]);
  expect(s.cred(1001)).toBeDefined();
  s.at(T + 60);
  await s.renewer.cycle();
  expect(s.removed).toEqual([1001]);
  expect(s.cred(1001)).toBeUndefined();
  expect(s.lines[1]).toBe('op=drop uid=1001 principal=u1001@R result=ok expired at 2033-05-18T03:34:20Z; the user must kinit and submit again');
  expect(s.audited).toEqual([
    { op: 'refresh', result: 'refused', code: 'E_NOT_RENEWABLE', target_uid: 1001, principal: 'u1001@R', mech: 'renewer' },
    { op: 'drop', result: 'ok', target_uid: 1001, principal: 'u1001@R', mech: 'renewer' },
  ]);
});

test('the KDC refusing (E_NOT_RENEWABLE) stops renewal of that ticket; it is dropped at expiry', async () => {
  const s = setup({ renew: async () => Promise.reject(new Krb5BridgeError('E_NOT_RENEWABLE', 'the KDC refused to renew the TGT of u1001@R: the ticket is not renewable')) });
  await s.seed(rec(1001, { endtime: T + 60 }));
  s.at(T + 50);
  await s.renewer.cycle();
  await s.renewer.cycle();
  expect(s.lines).toHaveLength(1);
  expect(s.lines[0]).toMatch(/result=E_NOT_RENEWABLE the KDC refused to renew the TGT of u1001@R: the ticket is not renewable; kept until it expires at/);
  s.at(T + 61);
  await s.renewer.cycle();
  expect(s.removed).toEqual([1001]);
});

test('an unreachable KDC: retries with back-off (5 s doubling), never a busy loop, never past expiry', async () => {
  let calls = 0;
  const s = setup({
    renew: async () => {
      calls++;
      throw new Krb5BridgeError('E_KRB5', 'krb5_get_renewed_creds for u1001@R: Cannot contact any KDC for realm');
    },
  });
  await s.seed(rec(1001, { endtime: T + 100, stored_at: T }));
  const due = T + 100 - 50 - 12;
  for (let t = due; t < due + 40; t++) {
    s.at(t);
    await s.renewer.cycle();
  }
  // due, +10, +30 (5*2, then 5*4 s later): three tries in 40 s of once-a-second cycles.
  expect(calls).toBe(3);
  expect(s.lines[0]).toMatch(/^op=renew uid=1001 principal=u1001@R result=E_KRB5 .*Cannot contact any KDC for realm; trying again in 10 s$/);
});

test('a push that lands while the KDC answers wins: the renewal is discarded', async () => {
  const s = setup({
    renew: async () => {
      await s.records.put(rec(1001, { endtime: T + 9999, stored_at: T + 1 }), { kind: 'fresher' }); // the user pushed meanwhile
      return { krbcred: Buffer.from('r'), ticket: { client: 'x', server: 'krbtgt/R@R', authtime: T, starttime: T, endtime: T + 3700, renew_till: T + 86400, flags: 'FRI' } };
    },
  });
  await s.seed(rec(1001, { endtime: T + 60 }));
  s.at(T + 50);
  await s.renewer.cycle();
  expect(s.written.map((r) => r.endtime)).toEqual([T + 9999]); // the push, not the renewal
  expect(s.cred(1001)!.endtime).toBe(T + 9999);
  expect(s.lines).toEqual(['op=renew uid=1001 principal=u1001@R result=ok discarded: a push replaced the credential meanwhile']);
});

test('start/stop: stop resolves and no cycle runs after it', async () => {
  const s = setup();
  s.renewer.start();
  await s.renewer.stop();
  await s.seed(rec(1001, { endtime: T }));
  await new Promise((r) => setTimeout(r, 20));
  expect(s.removed).toEqual([]);
});

test('the KDC down around expiry: tried again sooner and sooner, a last attempt just before the end saves the ticket', async () => {
  let kdcUp = false;
  const asked: number[] = [];
  let now = T;
  const s = setup({
    renew: async () => {
      asked.push(now - T);
      if (!kdcUp) throw new Krb5BridgeError('E_KDC_UNREACHABLE', 'krb5_get_renewed_creds for u1001@R: Cannot contact any KDC for requested realm');
      return { krbcred: Buffer.from('r'), ticket: { client: 'x', server: 'krbtgt/R@R', authtime: T, starttime: now, endtime: now + 3600, renew_till: T + 86400, flags: 'FRI' } };
    },
  });
  await s.seed(rec(1001, { endtime: T + 300, stored_at: T }));
  // Once a second until just before the end; the KDC comes back for the last attempt only (end - 12 s).
  for (now = T; now < T + 300; now++) {
    s.at(now);
    kdcUp = now >= T + 300 - 12;
    await s.renewer.cycle();
  }
  expect(asked[0]).toBe(300 - 150 - 37); // due: margin 150 (half its life), jitter 37
  expect(asked[asked.length - 1]).toBe(288); // the last attempt, which the KDC answered
  expect(asked.length).toBeGreaterThan(5);
  expect(s.cred(1001)!.endtime).toBe(T + 288 + 3600);
  expect(s.removed).toEqual([]);
  expect(s.lines.filter((l) => /result=E_KDC_UNREACHABLE/.test(l)).length).toBe(asked.length - 1);
});

test('the KDC down past expiry: the last attempt fails, it is said, and the ticket is dropped only at its end', async () => {
  const s = setup({ renew: async () => Promise.reject(new Krb5BridgeError('E_KDC_UNREACHABLE', 'Cannot contact any KDC')) });
  await s.seed(rec(1001, { endtime: T + 300, stored_at: T }));
  for (let t = T; t < T + 300; t++) {
    s.at(t);
    await s.renewer.cycle();
  }
  expect(s.removed).toEqual([]);
  expect(s.lines[s.lines.length - 1]).toMatch(/^op=renew uid=1001 principal=u1001@R result=E_KDC_UNREACHABLE Cannot contact any KDC; that was the last attempt; kept until it expires at \S+$/);
  s.at(T + 300);
  await s.renewer.cycle();
  expect(s.removed).toEqual([1001]);
});

test('renewals run side by side: a KDC exchange that hangs delays no other user', async () => {
  let release: () => void = () => undefined;
  const hung = new Promise<void>((r) => (release = r));
  const done: number[] = [];
  const s = setup({
    renew: async (b) => {
      const uid = Number(b.toString().replace('cred', ''));
      if (uid === 1001) await hung; // this user's KDC exchange hangs
      done.push(uid);
      return { krbcred: Buffer.from(`r${uid}`), ticket: { client: 'x', server: 'krbtgt/R@R', authtime: T, starttime: T, endtime: T + 9000, renew_till: T + 86400, flags: 'FRI' } };
    },
  });
  await s.seed(rec(1001, { endtime: T + 60 }));
  await s.seed(rec(1002, { endtime: T + 60 }));
  s.at(T + 50);
  const cycle = s.renewer.cycle();
  await new Promise((r) => setTimeout(r, 20));
  expect(done).toEqual([1002]);
  expect(s.cred(1002)!.endtime).toBe(T + 9000);
  // A second cycle meanwhile does not start another renewal of the hung one.
  await s.renewer.cycle();
  release();
  await cycle;
  expect(done).toEqual([1002, 1001]);
});

test('a renewed ticket the storage cannot take (disk full) is kept and served from memory; said once; saved when it can be', async () => {
  const s = setup();
  await s.seed(rec(1001, { endtime: T + 60 }));
  await s.seed(rec(1002, { endtime: T + 60 }));
  s.records.failWrites = new Krb5BridgeError('E_STORAGE', 'cannot save the record in /state/creds: ENOSPC (no space left on the device)');
  s.at(T + 50);
  await s.renewer.cycle();
  // Both renewed tickets are what the store serves, though neither is on disk.
  expect(s.cred(1001)!.endtime).toBe(T + 50 + 3600);
  expect(s.cred(1002)!.endtime).toBe(T + 50 + 3600);
  expect(s.records.health()).toMatchObject({ ok: false, unsaved: 2, problem: 'E_STORAGE: cannot save the record in /state/creds: ENOSPC (no space left on the device)' });
  const alarms = s.lines.filter((l) => l.includes('E_STORAGE'));
  expect(alarms).toEqual([
    'result=E_STORAGE cannot save the record in /state/creds: ENOSPC (no space left on the device); credentials are kept in memory and served from there, and written again every 5 s',
  ]);
  expect(s.lines.filter((l) => /op=renew .* result=ok .*\(kept in memory: the storage refuses writes\)$/.test(l))).toHaveLength(2);
  expect(s.lines.join('\n')).not.toMatch(/E_INTERNAL/);
  // The renewal never dropped or lost anything; once the disk takes writes, both are saved.
  expect(s.removed).toEqual([]);
  s.records.failWrites = undefined;
  await s.records.saveUnsaved();
  expect(s.records.health()).toEqual({ ok: true });
  expect(await s.records.storedUids()).toEqual([1001, 1002]);
  expect(s.lines[s.lines.length - 1]).toMatch(/^the memory \(unit tests only\) takes writes again: every credential kept in memory is saved/);
});

test('several stores: only while this store leads (the etcd election) does it renew or drop anything', async () => {
  let leads = false;
  const s = setup({ leading: () => leads });
  await s.seed(rec(1001));
  await s.seed(rec(1002, { endtime: T + 10, renew_till: T + 10 }));
  s.at(T + 3000); // 1001 due for renewal, 1002 expired
  await s.renewer.cycle();
  expect(s.asked).toEqual([]);
  expect(s.cred(1002)).toBeDefined(); // expired, but another store drops it
  leads = true;
  await s.renewer.cycle();
  expect(s.asked).toEqual(['cred1001']);
  expect(s.cred(1002)).toBeUndefined();
  expect(s.lines.filter((l) => l.startsWith('op=drop uid=1002'))).toHaveLength(1);
});
