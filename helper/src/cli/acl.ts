/**
 * `krb5bridge acl check`: which rule of a policy decides a request, and why. Runs the store's own
 * matching code (groups from the system, host names from DNS), so what it says is what the store
 * would do. Exit 0 when allowed, 32 (E_PERMISSION's status) when refused.
 */
import { isIP } from 'node:net';
import type { Argv, CommandModule } from 'yargs';
import { ERRORS, Krb5BridgeError } from '../errors';
import { Decision, Policy, Role, Subject, decide, defaultPolicy } from '../policy/acl';
import { hostResolver } from '../policy/hostresolve';
import { loadPolicyFile } from '../policy/policyfile';
import { GroupResolver } from '../sys/accounts';
import { out, outJson } from '../client/print';
import { GlobalArgs } from './common';

const OPS = ['push', 'fetch', 'show', 'list', 'remove', 'rotate'] as const;

interface Args extends GlobalArgs {
  policy?: string;
  uid: string;
  principal?: string;
  host?: string;
  op: (typeof OPS)[number];
  'target-uid'?: string;
  'min-uid': string;
}

/** The role an op needs (docs/security.md): own records need user, anyone else's admin. */
export function roleFor(op: string, uid: number, target: number): Role {
  switch (op) {
    case 'push':
      return 'user';
    case 'fetch':
      return 'node';
    case 'rotate':
      return 'admin';
    default:
      return uid === target ? 'user' : 'admin';
  }
}

function uidArg(v: string, name: string): number {
  if (!/^\d{1,10}$/.test(v) || Number(v) > 4294967294) throw new Krb5BridgeError('E_USAGE', `--${name} must be a numeric uid, got "${v}"`);
  return Number(v);
}

const checkCommand: CommandModule<GlobalArgs, Args> = {
  command: 'check',
  describe: 'Say which policy rule decides a request, and why',
  builder: (y) =>
    y
      .option('policy', { type: 'string', describe: 'policy file (default: the built-in default policy)' })
      .option('uid', { type: 'string', demandOption: true, describe: "the caller's uid" })
      .option('principal', { type: 'string', describe: "the caller's authenticated principal (krb5), or the pushed ticket's" })
      .option('host', { type: 'string', describe: "the caller's address (IP) or authenticated host name" })
      .option('op', { type: 'string', choices: OPS, demandOption: true, describe: 'the request' })
      .option('target-uid', { type: 'string', describe: 'show/remove/fetch: whose record (default: the caller\'s)' })
      .option('min-uid', { type: 'string', default: '1000', describe: 'min_uid for the default policy' }) as unknown as Argv<Args>,
  handler: async (args) => {
    const uid = uidArg(args.uid, 'uid');
    const target = args['target-uid'] === undefined ? uid : uidArg(args['target-uid'], 'target-uid');
    const policy: Policy = args.policy ? await loadPolicyFile(args.policy) : defaultPolicy(uidArg(args['min-uid'], 'min-uid'));
    const groups = new GroupResolver();
    const env = { groupsOf: (u: number) => groups.groupsOf(u), resolveHost: hostResolver() };
    const host = args.host;
    const subject: Subject = { uid, principals: args.principal ? [args.principal] : [], addr: host && isIP(host) ? host : undefined, host };
    let role = roleFor(args.op, uid, target);
    let d: Decision = await decide(policy, subject, role, env);
    // list: an admin sees every record; anyone else falls back to their own (role user).
    if (args.op === 'list' && !d.allowed) {
      role = 'user';
      d = await decide(policy, subject, role, env);
    }
    const extra = args.op === 'push' && uid < uidArg(args['min-uid'], 'min-uid') ? ' (but the store refuses pushes of uid 0 and uids below min_uid whatever the policy: E_UID_REFUSED)' : '';
    if (args.json) outJson({ allowed: d.allowed, role, rule: d.rule?.where ?? null, text: d.rule?.text ?? null, reason: d.reason });
    else {
      out(`${d.allowed ? 'allow' : 'deny'}: ${d.reason}${d.allowed ? extra : ''}`);
      out(`  request: uid ${uid}${args.principal ? `, principal ${args.principal}` : ''}${host ? `, host ${host}` : ''}, op ${args.op}${target !== uid ? ` on uid ${target}` : ''} (needs role ${role}); policy ${policy.source}`);
    }
    if (!d.allowed) process.exitCode = ERRORS.E_PERMISSION.status;
  },
};

export const aclCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'acl <action>',
  describe: 'Inspect the store access policy (acl check ...)',
  builder: (y) => y.command(checkCommand as never).demandCommand(1, 'name an action: check') as Argv<GlobalArgs>,
  handler: () => undefined,
};
