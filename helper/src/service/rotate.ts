/** rotate (admin): re-encrypt every stored credential with a new key (records/rotate.ts). */
import { Krb5BridgeError } from '../errors';
import type { Caller } from '../wire/auth';
import type { Fields, Note, ServiceDeps } from './context';

export async function rotate(d: ServiceDeps, caller: Caller, _req: unknown, note: Note): Promise<Fields> {
  await d.auth.requireRole(caller, 'admin', 'rotate the store key', note);
  if (!d.rotate) throw new Krb5BridgeError('E_PERMISSION', 'this store offers no key rotation');
  const r = await d.rotate();
  note.action = String(r.id);
  return { key_id: r.id, rewritten: r.rewritten, total: r.total };
}
