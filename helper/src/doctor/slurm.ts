/**
 * Slurm as krb5bridge needs it: slurm.conf readable and slurmctld answering (the store's job check
 * and the keeper's sweep ask it), and on login and compute nodes a plugstack.conf line loading
 * krb5bridge.so, whose plugin, node= and helper= exist and can be used.
 */
import { accessSync, constants, readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Slurmctld } from '../slurm/slurmctld';
import { type CheckGroup, type DoctorContext, type Finding, fail, ok, why } from './types';

const SLURM_DEFAULT_CONF = '/etc/slurm/slurm.conf';

function slurmConfPath(ctx: DoctorContext): string {
  return ctx.config.slurm_conf ?? process.env.SLURM_CONF ?? SLURM_DEFAULT_CONF;
}

/** slurm.conf's PlugStackConfig, else plugstack.conf beside it (Slurm's rule). */
function plugstackPath(slurmConf: string, text: string): string {
  const m = /^\s*PlugStackConfig\s*=\s*(\S+)/im.exec(text);
  return m ? (m[1] as string) : join(dirname(slurmConf), 'plugstack.conf');
}

/** Lines of a plugstack file and the files it includes (`include GLOB`, `*` in the last part only). */
function plugstackLines(file: string, depth = 0): { file: string; line: string }[] {
  const out: { file: string; line: string }[] = [];
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const inc = /^include\s+(\S+)$/.exec(line);
    if (inc && depth < 4) {
      const pattern = inc[1] as string;
      const dir = dirname(pattern);
      const re = new RegExp(`^${basename(pattern).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
      let names: string[] = [];
      try {
        names = readdirSync(dir).filter((n) => re.test(n)).sort();
      } catch {
        // an include of nothing, as Slurm allows
      }
      for (const n of names) out.push(...plugstackLines(join(dir, n), depth + 1));
    } else out.push({ file, line });
  }
  return out;
}

function usable(path: string, mode: number): boolean {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false;
  }
}

export function plugstackCheck(slurmConf: string, text: string): Finding {
  const file = plugstackPath(slurmConf, text);
  const example = 'required /usr/lib/x86_64-linux-gnu/slurm-wlm/krb5bridge.so node=/usr/bin/node helper=/usr/lib/krb5bridge/krb5bridge.cjs config=/etc/krb5bridge/krb5bridge.conf';
  let lines;
  try {
    lines = plugstackLines(file);
  } catch (e) {
    return fail('plugstack', `cannot read ${file}: ${why(e)}`, `create it with the line: ${example}`);
  }
  const hit = lines.find((l) => /^(required|optional)\s+\S*krb5bridge\.so(\s|$)/.test(l.line));
  if (!hit) return fail('plugstack', `no krb5bridge.so line in ${file}: jobs get no Kerberos credentials`, `add: ${example}`);
  const [, plugin, ...args] = hit.line.split(/\s+/) as [string, string, ...string[]];
  const arg = (k: string): string | undefined => args.find((a) => a.startsWith(`${k}=`))?.slice(k.length + 1);
  const node = arg('node') ?? '/usr/bin/node';
  const helper = arg('helper') ?? '/usr/local/lib/krb5bridge/krb5bridge.cjs';
  const problems: string[] = [];
  if (!plugin.startsWith('/') || !usable(plugin, constants.R_OK)) problems.push(`the plugin ${plugin} is missing or unreadable`);
  if (!usable(node, constants.X_OK)) problems.push(`node=${node} is not executable`);
  if (!usable(helper, constants.R_OK)) problems.push(`helper=${helper} is missing or unreadable`);
  if (problems.length) return fail('plugstack', `${hit.file}: ${problems.join('; ')}`, 'install krb5bridge (dpkg -i krb5bridge_*.deb) or fix the paths on that line');
  return ok('plugstack', `${hit.file} loads ${plugin} (node=${node}, helper=${helper})`);
}

export const slurmChecks: CheckGroup = {
  roles: ['login', 'compute', 'store', 'gateway'],
  async run(ctx) {
    const conf = slurmConfPath(ctx);
    let text: string;
    try {
      text = readFileSync(conf, 'utf8');
    } catch (e) {
      const f = fail('slurm', `cannot read slurm.conf ${conf}: ${why(e)}`, 'set slurm_conf (or SLURM_CONF) to the cluster\'s slurm.conf');
      return ctx.roles.has('login') || ctx.roles.has('compute') ? [f, fail('plugstack', `cannot find plugstack.conf without slurm.conf ${conf}`, 'fix slurm.conf first')] : [f];
    }
    const out: Finding[] = [];
    // Asked as the store's job check asks it: libslurm in-process (slurm/slurmctld.ts).
    const slurmctld = new Slurmctld({ slurmConf: conf, timeoutMs: ctx.config.timeout * 1000 });
    try {
      const nodes = await slurmctld.nodes();
      out.push(ok('slurm', `${conf} read; slurmctld answers (nodes: ${nodes.map((n) => n.name).join(' ') || 'none'})`));
    } catch (e) {
      out.push(fail('slurm', `${conf} read, but slurmctld does not answer: ${why(e)}`, 'start slurmctld, or check SlurmctldHost in slurm.conf and the network (the store\'s job check and the keeper\'s sweep need it)'));
    } finally {
      slurmctld.close();
    }
    if (ctx.roles.has('login') || ctx.roles.has('compute')) out.push(plugstackCheck(conf, text));
    return out;
  },
};
