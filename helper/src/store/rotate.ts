/**
 * Key rotation without losing a credential, crash-safe at every step:
 *   1. the key file gets the new key first in line, every old key kept (durable rename);
 *   2. the store starts sealing with the new key; writes already sealing with the old one finish;
 *   3. every record file is re-encrypted with the new key (under its uid's lock, read from disk);
 *   4. only when no record uses an old key does the key file lose the old keys.
 * A crash or restart anywhere leaves a key file that decrypts every record on disk; running the
 * rotation again finishes the job.
 */
import { Krb5BridgeError } from '../errors';
import { KeyRing, newKey, writeKeyFile } from './atrest';
import { StatePaths, reencryptRecord, recordKeyId, recordUids, writesInFlight } from './persist';

export interface RotateResult {
  /** The new key's id. */
  id: number;
  /** Records re-encrypted. */
  rewritten: number;
  /** Records on disk after the rotation. */
  total: number;
  /** Old key ids removed from the key file. */
  dropped: number[];
}

let running: Promise<unknown> = Promise.resolve();

/** Rotate the key of the state dir `p` (whose ring came from `keyFile`); one rotation at a time. */
export function rotateKey(p: StatePaths, keyFile: string, log: (line: string) => void = () => undefined): Promise<RotateResult> {
  const next = running.then(
    () => rotate(p, keyFile, log),
    () => rotate(p, keyFile, log),
  );
  running = next.catch(() => undefined);
  return next;
}

async function rotate(p: StatePaths, keyFile: string, log: (line: string) => void): Promise<RotateResult> {
  const ring = p.keys;
  const k = newKey(ring.nextId());
  // 1. Durable first: no record is sealed with a key the file does not hold.
  const staged = new KeyRing(k, new Map(ring.all().map((o) => [o.id, o.key])));
  writeKeyFile(keyFile, staged);
  log(`key rotation: key ${k.id} added to ${keyFile} (old keys ${ring.all().map((o) => o.id).join(', ')} kept until every record is re-encrypted)`);
  // 2. From now on every write seals with the new key; wait out the ones that sealed before.
  ring.setCurrent(k);
  await writesInFlight();
  // 3. Re-encrypt; a second pass catches a record created while the first listed the directory.
  let rewritten = 0;
  for (let pass = 0; pass < 3; pass++) {
    const stale = recordUids(p).filter((uid) => recordKeyId(p, uid) !== k.id);
    if (stale.length === 0) break;
    for (const uid of stale) if (await reencryptRecord(p, uid)) rewritten++;
  }
  const uids = recordUids(p);
  const left = uids.filter((uid) => recordKeyId(p, uid) !== k.id);
  if (left.length > 0) {
    throw new Krb5BridgeError('E_STATE', `key rotation: records of uid ${left.join(', ')} still use an old key; the old keys stay in ${keyFile}; run the rotation again`);
  }
  // 4. Nothing uses the old keys any more.
  writeKeyFile(keyFile, new KeyRing(k));
  const dropped = ring.dropOld();
  log(`key rotation: ${rewritten} of ${uids.length} record(s) re-encrypted with key ${k.id}; old key(s) ${dropped.join(', ') || 'none'} removed from ${keyFile}`);
  return { id: k.id, rewritten, total: uids.length, dropped };
}
