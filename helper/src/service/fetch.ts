/** fetch (a node, for a job): the stored credential of a uid, to write into the job's ccache. */
import { Krb5BridgeError } from '../errors';
import type { Caller } from '../wire/auth';
import type { Fields, Note, ServiceDeps } from './context';

export async function fetch(d: ServiceDeps, caller: Caller, req: { uid: number; job?: string }, note: Note): Promise<Fields> {
  note.target = req.uid;
  note.job = req.job;
  await d.auth.fetchRole(caller, req.uid, note);
  const entry = d.records.get(req.uid);
  if (!entry) throw new Krb5BridgeError('E_NOT_FOUND', `no credential stored for uid ${req.uid}`);
  const c = entry.cred;
  note.principal = c.principal;
  await d.auth.release(caller, req.uid, c, req.job, d.now(), note);
  return { uid: req.uid, principal: c.principal, endtime: c.endtime, creds: c.creds };
}
