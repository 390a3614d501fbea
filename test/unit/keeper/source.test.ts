/**
 * Where the keeper's fresher ticket comes from, by what the store said: a store that cannot be
 * reached, one that cannot decide now (slurmctld unreachable) and one that has nothing are three
 * different answers with three different paces.
 */
import { Krb5BridgeError, type ErrorCode } from '../../../helper/src/errors';
import { freshTicket } from '../../../helper/src/keeper/source';
import type { Job } from '../../../helper/src/keeper/jobs';

const job: Job = { job: '7', uid: 4343, gid: 4343, path: '/nonexistent/krb5cc_4343_7_AbCdEf', principal: '?', endtime: 0, renew_till: 0, since: 0, due: 0, failures: 0, final: false, pending: true };

async function afterStoreSays(code: ErrorCode): Promise<{ kind: string; why: string; kdcAsked: boolean }> {
  let kdcAsked = false;
  const r = await freshTicket(
    {
      fetch: async () => Promise.reject(new Krb5BridgeError(code, 'detail')),
      renew: async () => {
        kdcAsked = true;
        return Promise.reject(new Error('unused'));
      },
    },
    4343,
    [job],
  );
  if (r.ok) throw new Error('unexpected ticket');
  return { kind: r.kind, why: r.why, kdcAsked };
}

test.each([
  ['E_SLURMCTLD_UNREACHABLE', 'failed'],
  ['E_JOB_CHECK', 'failed'],
  ['E_STORE_UNREACHABLE', 'failed'],
  ['E_STORE_CLOSED', 'failed'],
  ['E_NOT_FOUND', 'nothing-fresher'],
  ['E_NO_JOB', 'nothing-fresher'],
] as [ErrorCode, string][])('the store says %s: %s', async (code, kind) => {
  const r = await afterStoreSays(code);
  expect(r.kind).toBe(kind);
  expect(r.why).toMatch(new RegExp(`^${code} `));
  // Only a store that cannot be reached sends the keeper to the KDC (here: no intact ccache to renew).
  expect(r.kdcAsked).toBe(false);
});
