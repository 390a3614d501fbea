/**
 * The store's access policy (docs/security.md): ordered rules, deny by default, and a ban list.
 *
 *   ban   principal GLOB | uid N[-M] | group G | host SPEC ...   refused for everything
 *   allow ROLES [principal GLOB,..] [uid N[-M],..] [group G,..] [host SPEC,..]
 *   deny  ROLES [conditions...]
 *
 * ROLES: user (push/remove/show/list own), node (fetch for a job on itself), admin (list, show,
 * remove any; rotate the key), comma-separated, or `all`. Conditions AND together; the values of
 * one condition (comma-separated) OR together. Bans are checked first, wherever they stand; then
 * the first allow/deny rule that names the role needed and matches the caller decides; no such
 * rule = refused. A host SPEC is an IP address, a CIDR block or a host name: addresses match the
 * peer address of the connection; a name matches the Kerberos-authenticated host principal's
 * host, or any address the name resolves to (forward DNS only: a reverse lookup is the peer's to
 * forge). Name globs (`*.example.org`) match only authenticated host names.
 */
import { BlockList, isIP } from 'node:net';
import { Krb5BridgeError } from '../errors';
import { MAX_UID } from '../wire/messages';

export const ROLES = ['user', 'node', 'admin'] as const;
export type Role = (typeof ROLES)[number];

type HostSpec = { kind: 'addr'; text: string; list: BlockList } | { kind: 'name'; text: string; name: string } | { kind: 'glob'; text: string; re: RegExp };

export interface Conditions {
  principal?: { text: string; re: RegExp }[];
  uid?: [number, number][];
  group?: { text: string; gid: number }[];
  host?: HostSpec[];
}

export interface Rule {
  kind: 'allow' | 'deny' | 'ban';
  roles: readonly Role[];
  cond: Conditions;
  /** Where the rule comes from, e.g. `/etc/krb5bridge/store.acl:3` or `default policy rule 1`. */
  where: string;
  text: string;
}

export interface Policy {
  source: string;
  rules: Rule[];
  isDefault: boolean;
}

/** The caller (or, for a ban on a fetched credential, its owner) as the policy sees it. */
export interface Subject {
  uid: number;
  /** Principals known to belong to the subject (authenticated, or a pushed ticket bound to it). */
  principals: readonly string[];
  /** Peer IP address. */
  addr?: string | undefined;
  /** Authenticated host name (krb5 host principal) or the peer address. */
  host?: string | undefined;
}

export interface Environment {
  /** uid -> every gid it belongs to. */
  groupsOf: (uid: number) => Promise<number[]>;
  /** host name -> its addresses (forward DNS); [] when it does not resolve. */
  resolveHost: (name: string) => Promise<string[]>;
}

export interface Decision {
  allowed: boolean;
  rule: Rule | undefined;
  /** One sentence: which rule decided and why (for logs, refusals and `acl check`). */
  reason: string;
}

// ---------------------------------------------------------------- parsing

function configError(where: string, msg: string): Krb5BridgeError {
  return new Krb5BridgeError('E_CONFIG', `${where}: ${msg}`);
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** `::ffff:10.1.2.3` (an IPv4 peer on a dual-stack socket) is 10.1.2.3. */
export function normaliseAddr(addr: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  return m ? m[1]! : addr.toLowerCase();
}

function parseHost(v: string, where: string): HostSpec {
  const slash = v.indexOf('/');
  if (slash >= 0) {
    const net = v.slice(0, slash);
    const bits = v.slice(slash + 1);
    const fam = isIP(net);
    const max = fam === 4 ? 32 : 128;
    if (fam === 0 || !/^\d{1,3}$/.test(bits) || Number(bits) > max) throw configError(where, `host "${v}" is not an IP address, CIDR block or host name`);
    const list = new BlockList();
    list.addSubnet(net, Number(bits), fam === 4 ? 'ipv4' : 'ipv6');
    return { kind: 'addr', text: v, list };
  }
  const fam = isIP(v);
  if (fam !== 0) {
    const list = new BlockList();
    list.addAddress(normaliseAddr(v), fam === 4 ? 'ipv4' : 'ipv6');
    return { kind: 'addr', text: v, list };
  }
  if (!/^[A-Za-z0-9*?]([A-Za-z0-9.*?-]{0,252})$/.test(v)) throw configError(where, `host "${v}" is not an IP address, CIDR block or host name`);
  const name = v.toLowerCase().replace(/\.$/, '');
  if (/[*?]/.test(name)) return { kind: 'glob', text: v, re: globToRegExp(name) };
  return { kind: 'name', text: v, name };
}

function parseUidRange(v: string, where: string): [number, number] {
  const m = /^(\d{1,10})(?:-(\d{1,10}))?$/.exec(v);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2] ?? m[1]) : NaN;
  if (!m || lo > MAX_UID || hi > MAX_UID || lo > hi) throw configError(where, `uid "${v}" is not a uid or a range N-M (0..${MAX_UID})`);
  return [lo, hi];
}

const COND_KEYS = ['principal', 'uid', 'group', 'host'] as const;

/** Parse policy text strictly; group names are resolved now (an unknown group is E_CONFIG). */
export async function parsePolicy(text: string, file: string, gidOfGroup: (name: string) => Promise<number | undefined>): Promise<Policy> {
  const rules: Rule[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const where = `${file}:${i + 1}`;
    const s = lines[i]!.replace(/#.*$/, '').trim();
    if (s === '') continue;
    const tok = s.split(/\s+/);
    const kind = tok.shift()!;
    if (kind !== 'allow' && kind !== 'deny' && kind !== 'ban') throw configError(where, `a rule starts with allow, deny or ban, not "${kind.slice(0, 40)}"`);
    let roles: readonly Role[] = ROLES;
    if (kind !== 'ban') {
      const r = tok.shift();
      if (r === undefined) throw configError(where, `${kind} needs roles (user, node, admin, comma-separated, or all)`);
      if (r !== 'all') {
        const names = r.split(',');
        for (const n of names) if (!(ROLES as readonly string[]).includes(n)) throw configError(where, `unknown role "${n.slice(0, 40)}" (roles: user, node, admin, all)`);
        roles = [...new Set(names)] as Role[];
      }
    }
    const cond: Conditions = {};
    while (tok.length > 0) {
      const key = tok.shift()!;
      const value = tok.shift();
      if (!(COND_KEYS as readonly string[]).includes(key)) throw configError(where, `unknown condition "${key.slice(0, 40)}" (conditions: principal, uid, group, host)`);
      if (value === undefined) throw configError(where, `condition ${key} needs a value`);
      const k = key as (typeof COND_KEYS)[number];
      if (cond[k] !== undefined) throw configError(where, `condition ${key} given twice (list values with commas instead)`);
      const values = value.split(',');
      if (values.some((v) => v === '')) throw configError(where, `condition ${key} has an empty value`);
      switch (k) {
        case 'principal':
          for (const v of values) if (v.length > 1024 || /[\s\0]/.test(v)) throw configError(where, `principal "${v.slice(0, 40)}" is not a principal name or glob`);
          cond.principal = values.map((v) => ({ text: v, re: globToRegExp(v) }));
          break;
        case 'uid':
          cond.uid = values.map((v) => parseUidRange(v, where));
          break;
        case 'group': {
          const out: { text: string; gid: number }[] = [];
          for (const v of values) {
            const gid = /^\d{1,10}$/.test(v) ? Number(v) : await gidOfGroup(v);
            if (gid === undefined || gid > MAX_UID) throw configError(where, `group "${v.slice(0, 40)}" is not a group here (getgrnam) nor a gid`);
            out.push({ text: v, gid });
          }
          cond.group = out;
          break;
        }
        case 'host':
          cond.host = values.map((v) => parseHost(v, where));
          break;
      }
    }
    if (kind === 'ban' && Object.keys(cond).length === 0) throw configError(where, 'a ban needs a condition (principal, uid, group or host); a bare ban would refuse everyone');
    rules.push({ kind, roles, cond, where, text: s });
  }
  return { source: file, rules, isDefault: false };
}

/** Today's behaviour when no policy file is given: root is node and admin from any host; uids >= min_uid are users. */
export function defaultPolicy(minUid: number): Policy {
  const lo = Math.max(minUid, 1);
  const rules: Rule[] = [
    { kind: 'allow', roles: ['node', 'admin'], cond: { uid: [[0, 0]] }, where: 'default policy rule 1', text: 'allow node,admin uid 0' },
    { kind: 'allow', roles: ['user'], cond: { uid: [[lo, MAX_UID]] }, where: 'default policy rule 2', text: `allow user uid ${lo}-${MAX_UID}` },
  ];
  return { source: 'default policy', rules, isDefault: true };
}

// ---------------------------------------------------------------- matching

async function hostMatches(spec: HostSpec, s: Subject, env: Environment): Promise<boolean> {
  const addr = s.addr ? normaliseAddr(s.addr) : undefined;
  const hostName = s.host && isIP(s.host) === 0 ? s.host.toLowerCase().replace(/\.$/, '') : undefined;
  const addrs = [addr, s.host && isIP(s.host) !== 0 ? normaliseAddr(s.host) : undefined].filter((a): a is string => a !== undefined);
  switch (spec.kind) {
    case 'addr':
      return addrs.some((a) => spec.list.check(a, isIP(a) === 4 ? 'ipv4' : 'ipv6'));
    case 'glob':
      return hostName !== undefined && spec.re.test(hostName);
    case 'name': {
      if (hostName === spec.name) return true;
      if (addrs.length === 0) return false;
      const resolved = (await env.resolveHost(spec.name)).map(normaliseAddr);
      return addrs.some((a) => resolved.includes(a));
    }
  }
}

/** Does every condition of `rule` hold for `s`? The first one that does not is returned, for explanations. */
async function failedCondition(rule: Rule, s: Subject, env: Environment): Promise<string | undefined> {
  const c = rule.cond;
  if (c.uid && !c.uid.some(([lo, hi]) => s.uid >= lo && s.uid <= hi)) return `uid ${s.uid} not in ${c.uid.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',')}`;
  if (c.principal && !c.principal.some((p) => s.principals.some((x) => p.re.test(x)))) {
    return s.principals.length === 0 ? 'no authenticated principal' : `principal ${s.principals.join(',')} not ${c.principal.map((p) => p.text).join(',')}`;
  }
  if (c.group) {
    const gids = await env.groupsOf(s.uid);
    if (!c.group.some((g) => gids.includes(g.gid))) return `uid ${s.uid} not in group ${c.group.map((g) => g.text).join(',')}`;
  }
  if (c.host) {
    let ok = false;
    for (const h of c.host) if (await hostMatches(h, s, env)) ok = true;
    if (!ok) return `host ${s.host ?? s.addr ?? '(unknown)'} not ${c.host.map((h) => h.text).join(',')}`;
  }
  return undefined;
}

/** The ban that refuses `s`, if any. */
export async function banOf(policy: Policy, s: Subject, env: Environment): Promise<Rule | undefined> {
  for (const r of policy.rules) if (r.kind === 'ban' && (await failedCondition(r, s, env)) === undefined) return r;
  return undefined;
}

/** May `s` act in `role`? Bans first, then the first allow/deny rule naming the role that matches. */
export async function decide(policy: Policy, s: Subject, role: Role, env: Environment): Promise<Decision> {
  const ban = await banOf(policy, s, env);
  if (ban) return { allowed: false, rule: ban, reason: `banned by ${ban.where} (${ban.text})` };
  const misses: string[] = [];
  for (const r of policy.rules) {
    if (r.kind === 'ban' || !r.roles.includes(role)) continue;
    const failed = await failedCondition(r, s, env);
    if (failed !== undefined) {
      misses.push(`${r.where}: ${failed}`);
      continue;
    }
    const verb = r.kind === 'allow' ? 'grants' : 'denies';
    return { allowed: r.kind === 'allow', rule: r, reason: `${r.where} (${r.text}) ${verb} role ${role}` };
  }
  const hint = policy.isDefault ? (role === 'user' ? ` (it gives role user to uids >= min_uid only)` : ` (it gives node and admin to uid 0 only: only root can)`) : '';
  const near = misses.length > 0 ? ` (not matched: ${misses.slice(0, 3).join('; ')}${misses.length > 3 ? '; ...' : ''})` : '';
  return { allowed: false, rule: undefined, reason: `no rule of the ${policy.isDefault ? 'default policy' : `policy ${policy.source}`} grants role ${role}${hint}; deny by default${near}` };
}
