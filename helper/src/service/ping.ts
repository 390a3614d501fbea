/** ping (anyone authenticated): who the store says you are, and its version. */
import type { Caller } from '../wire/auth';
import type { Fields, ServiceDeps } from './context';

export async function ping(d: ServiceDeps, caller: Caller): Promise<Fields> {
  return { uid: caller.uid, gid: caller.gid, version: d.version };
}
