/** ping (anyone authenticated): who the store says you are, its version, and a storage problem if there is one. */
import type { Caller } from '../wire/auth';
import type { Fields, ServiceDeps } from './context';

export async function ping(d: ServiceDeps, caller: Caller): Promise<Fields> {
  const h = d.records.health();
  const storage = h.ok ? {} : { storage: `${h.problem} (since ${new Date(h.since * 1000).toISOString()}; ${h.unsaved} credential(s) kept in memory only)` };
  return { uid: caller.uid, gid: caller.gid, version: d.version, ...storage };
}
