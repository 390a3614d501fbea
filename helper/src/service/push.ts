/** push (a user): store the caller's own TGT, replacing the stored one only if this one is fresher (or forced). */
import { parseKrbCred } from '../krb5';
import type { StoredCredential } from '../records/types';
import type { Caller } from '../wire/auth';
import type { Fields, Note, ServiceDeps } from './context';

export async function push(d: ServiceDeps, caller: Caller, req: { creds: string; force?: boolean }, note: Note): Promise<Fields> {
  d.auth.pushCaller(caller);
  const krbcred = Buffer.from(req.creds, 'base64');
  const ticket = parseKrbCred(krbcred);
  note.principal = ticket.principal;
  const tgt = await d.auth.push(caller, ticket, d.now(), note);
  const cred: StoredCredential = {
    uid: caller.uid,
    principal: ticket.principal,
    endtime: tgt.endtime,
    renew_till: tgt.renew_till,
    authtime: tgt.authtime,
    stored_at: d.now(),
    creds: req.creds,
  };
  // Durable before acknowledged: a crash after the answer never loses the ticket. Storage that
  // refuses the write (E_STORAGE) refuses the push: the record stored before stays as it was.
  const r = await d.records.put(cred, { kind: req.force === true ? 'any' : 'fresher' });
  if (!r.written) {
    note.action = 'kept';
    return { action: 'kept', principal: r.current!.cred.principal, endtime: r.current!.cred.endtime };
  }
  note.action = 'stored';
  return { action: 'stored', principal: cred.principal, endtime: cred.endtime };
}
