/**
 * Records for unit tests: the memory backend of the storage seam (helper/src/records/memory.ts),
 * sealed with a fresh key like the real store, and a log of what was written and removed.
 */
import { KeyRing, newKey } from '../../helper/src/records/atrest';
import { RecordCodec } from '../../helper/src/records/codec';
import { MemoryRecordStore } from '../../helper/src/records/memory';
import type { StoredCredential } from '../../helper/src/records/types';

export interface TestRecords {
  records: MemoryRecordStore;
  codec: RecordCodec;
  /** Every record written since the last seed(), in order. */
  written: StoredCredential[];
  /** Every uid removed since the last seed(). */
  removed: number[];
  /** Store `cred` whatever is there (as a push --force would), then forget the logs. */
  seed(cred: StoredCredential): Promise<void>;
  /** The stored credential of uid (the view). */
  cred(uid: number): StoredCredential | undefined;
}

/** `log`: where the store's own lines go (storage alarms). */
export function memoryRecords(log?: (line: string) => void): TestRecords {
  const codec = new RecordCodec(new KeyRing(newKey(1)));
  const records = new MemoryRecordStore(codec, log);
  const t: TestRecords = {
    records,
    codec,
    written: [],
    removed: [],
    async seed(cred) {
      await records.put(cred, { kind: 'any' });
      t.written.length = 0;
      t.removed.length = 0;
    },
    cred: (uid) => records.get(uid)?.cred,
  };
  records.watch((c) => (c.entry ? t.written.push(c.entry.cred) : t.removed.push(c.uid)));
  return t;
}
