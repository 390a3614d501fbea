/**
 * Key rotation without losing a credential, crash-safe at every step, on any backend:
 *   1. the key file gets the new key first in line, every old key kept (durable rename);
 *   2. the store starts sealing with the new key; writes already sealing with the old one finish;
 *   3. every stored record is re-sealed with the new key (under its uid's lock, read from storage);
 *   4. only when no record uses an old key does the key file lose the old keys.
 * A crash or restart anywhere leaves a key file that opens every stored record; running the
 * rotation again finishes the job.
 *
 * The new key is the key file's newest one when it is newer than the current (put there by
 * `rotate-key --prepare` and copied to every store host beforehand), else a new random one.
 * Before anything changes, a storage shared by several stores checks that each of them holds it
 * (RecordStore.beforeRotation): records sealed with a key another store lacks would be lost to it.
 */
import { Krb5BridgeError } from '../errors';
import { KeyRing, StoreKey, newKey } from './atrest';
import { writeKeyFile } from './keyfile';
import type { RecordStore } from './types';

export interface RotateResult {
  /** The new key's id. */
  id: number;
  /** Records re-encrypted. */
  rewritten: number;
  /** Records stored after the rotation. */
  total: number;
  /** Old key ids removed from the key file. */
  dropped: number[];
}

let running: Promise<unknown> = Promise.resolve();

/** Rotate the key of `records`, sealed with `ring` (which came from `keyFile`); one rotation at a time. */
export function rotateKey(records: RecordStore, ring: KeyRing, keyFile: string, log: (line: string) => void = () => undefined): Promise<RotateResult> {
  const next = running.then(
    () => rotate(records, ring, keyFile, log),
    () => rotate(records, ring, keyFile, log),
  );
  running = next.catch(() => undefined);
  return next;
}

async function stale(records: RecordStore, id: number): Promise<number[]> {
  const out: number[] = [];
  for (const uid of await records.storedUids()) if ((await records.sealedWith(uid)) !== id) out.push(uid);
  return out;
}

/** The key to rotate to: a prepared one (newer than the current), else a new one. */
function nextKey(ring: KeyRing): StoreKey {
  const prepared = ring.all().filter((o) => o.id > ring.current.id);
  if (prepared.length > 0) return prepared.reduce((a, b) => (a.id > b.id ? a : b));
  return newKey(ring.nextId());
}

async function rotate(records: RecordStore, ring: KeyRing, keyFile: string, log: (line: string) => void): Promise<RotateResult> {
  const k = nextKey(ring);
  await records.beforeRotation?.(k.id);
  // 1. Durable first: no record is sealed with a key the file does not hold.
  await writeKeyFile(keyFile, new KeyRing(k, new Map(ring.all().map((o) => [o.id, o.key]))));
  log(`key rotation: key ${k.id} added to ${keyFile} (old keys ${ring.all().map((o) => o.id).join(', ')} kept until every record is re-encrypted)`);
  // 2. From now on every write seals with the new key; wait out the ones that sealed before.
  ring.setCurrent(k);
  await records.settled();
  // 3. Re-seal; further passes catch a record created while the first listed the storage.
  let rewritten = 0;
  for (let pass = 0; pass < 3; pass++) {
    const uids = await stale(records, k.id);
    if (uids.length === 0) break;
    for (const uid of uids) if (await records.reseal(uid)) rewritten++;
  }
  const total = (await records.storedUids()).length;
  const left = await stale(records, k.id);
  if (left.length > 0) {
    throw new Krb5BridgeError('E_STATE', `key rotation: records of uid ${left.join(', ')} still use an old key; the old keys stay in ${keyFile}; run the rotation again`);
  }
  // 4. Nothing uses the old keys any more.
  await writeKeyFile(keyFile, new KeyRing(k));
  const dropped = ring.dropOld();
  log(`key rotation: ${rewritten} of ${total} record(s) re-encrypted with key ${k.id}; old key(s) ${dropped.join(', ') || 'none'} removed from ${keyFile}`);
  return { id: k.id, rewritten, total, dropped };
}
