/** show: one stored credential's details, never the ticket (own: role user; anyone's: admin). */
import { Krb5BridgeError } from '../errors';
import type { Caller } from '../wire/auth';
import { Fields, Note, ServiceDeps, recordInfo } from './context';

export async function show(d: ServiceDeps, caller: Caller, req: { uid: number }, note: Note): Promise<Fields> {
  note.target = req.uid;
  await d.auth.ownOrAdmin(caller, req.uid, `see the record of uid ${req.uid}`, note);
  const entry = d.records.get(req.uid);
  if (!entry) throw new Krb5BridgeError('E_NOT_FOUND', `no credential stored for uid ${req.uid}`);
  return { record: recordInfo(entry.cred) };
}
