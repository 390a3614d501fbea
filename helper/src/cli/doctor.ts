/**
 * `krb5bridge doctor [--role login|compute|store|gateway ...] [--json]`: what is wrong on this host
 * and what to do, one line per check (helper/src/doctor/). Exit status: 0 all passed, 1 a warning,
 * 2 a failure. A configuration that does not load is itself the finding.
 */
import type { Argv, CommandModule } from 'yargs';
import { out, outJson } from '../client/print';
import { exitStatus, findingLine, ROLES, runDoctor, type Finding, type Role } from '../doctor';
import { GlobalArgs, configFrom } from './common';

interface Args extends GlobalArgs {
  role: Role[];
}

function report(findings: Finding[], json: boolean | undefined): void {
  if (json) outJson({ status: exitStatus(findings), findings });
  else for (const f of findings) out(findingLine(f));
  process.exitCode = exitStatus(findings);
}

export const doctorCommand: CommandModule<GlobalArgs, Args> = {
  command: 'doctor',
  describe: 'Check this host for what krb5bridge needs, one line per check with what to do (exit 0 ok, 1 warning, 2 failure)',
  builder: (y) =>
    y.option('role', {
      type: 'string',
      array: true,
      choices: ROLES as Role[],
      default: ['login'] as Role[],
      describe: "this host's roles (repeat for several): login, compute, store, gateway",
    }) as unknown as Argv<Args>,
  handler: async (args) => {
    let config;
    try {
      config = configFrom(args);
    } catch (e) {
      report([{ check: 'config', status: 'fail', detail: (e as Error).message, remedy: 'fix the line named, then run krb5bridge config check' }], args.json);
      return;
    }
    const findings = await runDoctor({ config, roles: new Set(args.role), root: process.getuid?.() === 0 });
    report([{ check: 'config', status: 'ok', detail: `${args.config ?? process.env.KRB5BRIDGE_CONFIG ?? '/etc/krb5bridge/krb5bridge.conf'} loads` }, ...findings], args.json);
  },
};
