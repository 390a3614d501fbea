/** list: every stored credential (admin), else the caller's own (user). */
import type { Caller } from '../wire/auth';
import { Fields, Note, ServiceDeps, recordInfo } from './context';

export async function list(d: ServiceDeps, caller: Caller, _req: unknown, note: Note): Promise<Fields> {
  if (await d.auth.hasRole(caller, 'admin')) return { records: d.records.list().map((e) => recordInfo(e.cred)) };
  await d.auth.requireRole(caller, 'user', 'list records', note);
  const own = d.records.get(caller.uid);
  return { records: own ? [recordInfo(own.cred)] : [] };
}
