/**
 * `krb5bridge doctor`: every check group for the roles asked, in a fixed order, one finding per
 * check. The exit status is the worst finding, as monitoring plugins report it: 0 every check
 * passed (or could not apply here), 1 a warning, 2 a failure. A new group is a new file of this
 * folder added to GROUPS.
 */
import { kerberosChecks } from './kerberos';
import { mungeChecks } from './munge';
import { nodeChecks } from './node';
import { runtimeChecks } from './runtime';
import { slurmChecks } from './slurm';
import { storeChecks } from './store';
import { storeHostChecks } from './storehost';
import type { CheckGroup, DoctorContext, Finding, Status } from './types';

export { ROLES, type Role, type Finding } from './types';

/** The gateway host's checks read the gateway's TLS, JWT and slurmrestd code: loaded only when asked for, so every other verb starts without it. */
const gatewayChecks: CheckGroup = { roles: ['gateway'], run: async (ctx) => (await import('./gateway')).gatewayChecks.run(ctx) };

const GROUPS: CheckGroup[] = [runtimeChecks, kerberosChecks, mungeChecks, storeChecks, slurmChecks, nodeChecks, storeHostChecks, gatewayChecks];

export async function runDoctor(ctx: DoctorContext): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const g of GROUPS) {
    if (!g.roles.some((r) => ctx.roles.has(r))) continue;
    for (const f of await g.run(ctx)) if (!out.some((o) => o.check === f.check)) out.push(f);
  }
  return out;
}

const RANK: Record<Status, number> = { ok: 0, skip: 0, warn: 1, fail: 2 };

export function exitStatus(findings: Finding[]): number {
  return Math.max(0, ...findings.map((f) => RANK[f.status]));
}

/** One line per check: status, name, what was found, and for warnings and failures what to do. */
export function findingLine(f: Finding): string {
  return `${f.status.padEnd(4)}  ${f.check}: ${f.detail}${f.remedy ? ` => ${f.remedy}` : ''}`;
}
