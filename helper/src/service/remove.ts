/** remove: delete a stored credential (own: role user; anyone's: admin). */
import { Krb5BridgeError } from '../errors';
import type { Caller } from '../wire/auth';
import type { Fields, Note, ServiceDeps } from './context';

export async function remove(d: ServiceDeps, caller: Caller, req: { uid?: number }, note: Note): Promise<Fields> {
  const uid = req.uid ?? caller.uid;
  note.target = uid;
  await d.auth.ownOrAdmin(caller, uid, `remove the credential of uid ${uid}`, note);
  const entry = d.records.get(uid);
  if (!entry) throw new Krb5BridgeError('E_NOT_FOUND', `no credential stored for uid ${uid}`);
  note.principal = entry.cred.principal;
  // Whatever is stored when the delete runs goes: a push landing meanwhile is removed too, as asked.
  await d.records.delete(uid);
  return { removed: true, uid, principal: entry.cred.principal };
}
