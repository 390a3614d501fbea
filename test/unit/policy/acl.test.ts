/**
 * The access policy: strict parsing with line numbers, first-match decisions, bans, deny by
 * default, and host rules that really match (and really do not) on peer addresses, CIDR blocks,
 * resolved names and Kerberos host names. Groups and DNS are the system's (getgrouplist, getaddrinfo).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { Environment, Policy, Subject, decide, defaultPolicy, parsePolicy } from '../../../helper/src/policy/acl';
import { GroupResolver, gidOfGroup } from '../../../helper/src/sys/accounts';
import { hostResolver } from '../../../helper/src/policy/hostresolve';
import { loadPolicyFile } from '../../../helper/src/policy/policyfile';
import { Krb5BridgeError } from '../../../helper/src/errors';

const groups = new GroupResolver();
const env: Environment = { groupsOf: (u) => groups.groupsOf(u), resolveHost: hostResolver() };
const parse = (text: string): Promise<Policy> => parsePolicy(text, '/etc/p.acl', gidOfGroup);

async function configError(text: string): Promise<string> {
  try {
    await parse(text);
  } catch (e) {
    expect((e as Krb5BridgeError).code).toBe('E_CONFIG');
    return (e as Error).message;
  }
  throw new Error('expected E_CONFIG');
}

const who = (uid: number, more: Partial<Subject> = {}): Subject => ({ uid, principals: [], ...more });

describe('parsing', () => {
  test.each([
    ['permit user uid 1', '/etc/p.acl:2: a rule starts with allow, deny or ban, not "permit"'],
    ['allow', '/etc/p.acl:2: allow needs roles'],
    ['allow root uid 0', '/etc/p.acl:2: unknown role "root"'],
    ['allow user uid', '/etc/p.acl:2: condition uid needs a value'],
    ['allow user uid 5-1', '/etc/p.acl:2: uid "5-1" is not a uid or a range'],
    ['allow user uid 1 uid 2', '/etc/p.acl:2: condition uid given twice'],
    ['allow user shell /bin/sh', '/etc/p.acl:2: unknown condition "shell"'],
    ['allow node host 10.0.0.0/33', '/etc/p.acl:2: host "10.0.0.0/33" is not an IP address, CIDR block or host name'],
    ['allow node host bad_name!', '/etc/p.acl:2: host "bad_name!" is not'],
    ['allow admin group no-such-group-krb5bridge', '/etc/p.acl:2: group "no-such-group-krb5bridge" is not a group here'],
    ['ban', '/etc/p.acl:2: a ban needs a condition'],
    ['allow user uid 1,', '/etc/p.acl:2: condition uid has an empty value'],
  ])('%s -> E_CONFIG naming the line', async (line, msg) => {
    expect(await configError(`# comment\n${line}\n`)).toContain(msg);
  });

  test('comments, blank lines, lists and ranges parse', async () => {
    const p = await parse('# site policy\n\nallow node,admin uid 0 host 10.0.0.0/8,node1 # trailing\nallow user uid 1000-2000,3000\nban principal evil@*\n');
    expect(p.rules.map((r) => [r.kind, r.roles, r.where])).toEqual([
      ['allow', ['node', 'admin'], '/etc/p.acl:3'],
      ['allow', ['user'], '/etc/p.acl:4'],
      ['ban', ['user', 'node', 'admin'], '/etc/p.acl:5'],
    ]);
  });

  test('the policy file must be root-owned and not writable by others', async () => {
    const dir = fs.mkdtempSync('/tmp/krb5bridge-acl-');
    try {
      const f = join(dir, 'p.acl');
      fs.writeFileSync(f, 'allow user uid 1000\n', { mode: 0o644 });
      expect((await loadPolicyFile(f)).rules).toHaveLength(1);
      fs.chmodSync(f, 0o666);
      await expect(loadPolicyFile(f)).rejects.toMatchObject({ code: 'E_UNSAFE_PATH', message: expect.stringContaining(`policy file ${f} has mode 0666`) });
      fs.chmodSync(f, 0o644);
      fs.chownSync(f, 65534, 65534);
      await expect(loadPolicyFile(f)).rejects.toMatchObject({ code: 'E_UNSAFE_PATH', message: expect.stringContaining('owned by uid 65534') });
      fs.symlinkSync(f, join(dir, 'link.acl'));
      await expect(loadPolicyFile(join(dir, 'link.acl'))).rejects.toMatchObject({ code: 'E_UNSAFE_PATH', message: expect.stringContaining(`cannot open the policy file ${join(dir, 'link.acl')}: it is a symbolic link`) });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('decisions', () => {
  test('default policy: root is node and admin from anywhere; uids >= min_uid are users; nothing else', async () => {
    const p = defaultPolicy(1000);
    expect((await decide(p, who(0, { addr: '192.0.2.7' }), 'node', env)).allowed).toBe(true);
    expect((await decide(p, who(0), 'admin', env)).allowed).toBe(true);
    expect((await decide(p, who(1000), 'user', env)).allowed).toBe(true);
    const d = await decide(p, who(1001), 'node', env);
    expect(d).toMatchObject({ allowed: false, rule: undefined });
    expect(d.reason).toContain('no rule of the default policy grants role node (it gives node and admin to uid 0 only: only root can); deny by default');
    expect((await decide(p, who(999), 'user', env)).allowed).toBe(false);
    expect((await decide(p, who(0), 'user', env)).allowed).toBe(false);
  });

  test('first matching rule naming the role decides; deny rules win when first', async () => {
    const p = await parse('deny user uid 1500-1599\nallow user uid 1000-60000\nallow user,admin uid 1550\n');
    const d = await decide(p, who(1550), 'user', env);
    expect(d).toMatchObject({ allowed: false, reason: '/etc/p.acl:1 (deny user uid 1500-1599) denies role user' });
    expect((await decide(p, who(1550), 'admin', env)).reason).toBe('/etc/p.acl:3 (allow user,admin uid 1550) grants role admin');
    expect((await decide(p, who(1001), 'user', env)).allowed).toBe(true);
  });

  test('bans refuse everything, wherever they stand, by principal glob or uid', async () => {
    const p = await parse('allow all uid 0-4294967294\nban principal evil@*,*/admin@R\nban uid 1666\n');
    expect(await decide(p, who(1001, { principals: ['evil@R'] }), 'user', env)).toMatchObject({ allowed: false, reason: 'banned by /etc/p.acl:2 (ban principal evil@*,*/admin@R)' });
    expect((await decide(p, who(0, { principals: ['joe/admin@R'] }), 'admin', env)).allowed).toBe(false);
    expect((await decide(p, who(1666), 'user', env)).reason).toContain('banned by /etc/p.acl:3');
    expect((await decide(p, who(1001, { principals: ['evilish@R'] }), 'user', env)).allowed).toBe(true);
    expect((await decide(p, who(1001, { principals: ['good@R'] }), 'user', env)).allowed).toBe(true);
  });

  test('principal rules need an authenticated principal: none (munge, not a push) never matches', async () => {
    const p = await parse('allow admin principal ops/*@R\n');
    expect((await decide(p, who(0, { principals: ['ops/alice@R'] }), 'admin', env)).allowed).toBe(true);
    const d = await decide(p, who(0), 'admin', env);
    expect(d.allowed).toBe(false);
    expect(d.reason).toContain('/etc/p.acl:1: no authenticated principal');
  });

  test('group rules use the uid\'s real groups (getgrouplist)', async () => {
    const p = await parse('allow admin group root\nallow admin group 4242\n');
    expect((await decide(p, who(0), 'admin', env)).reason).toBe('/etc/p.acl:1 (allow admin group root) grants role admin');
    const nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
    const d = await decide(p, who(nobody), 'admin', env);
    expect(d.allowed).toBe(false);
    expect(d.reason).toContain(`uid ${nobody} not in group root`);
  });
});

describe('host rules really match, and really do not', () => {
  let p: Policy;
  beforeAll(async () => {
    p = await parse('allow node uid 0 host 10.1.0.0/16\nallow node uid 0 host 192.0.2.5\nallow node uid 0 host localhost\nallow node uid 0 host *.nodes.example\nallow node uid 0 host fd00::/8\n');
  });
  const node = (s: Partial<Subject>) => decide(p, who(0, s), 'node', env);

  test('CIDR: inside matches, outside does not; IPv4-mapped IPv6 peers count as IPv4', async () => {
    expect((await node({ addr: '10.1.200.3' })).rule?.where).toBe('/etc/p.acl:1');
    expect((await node({ addr: '::ffff:10.1.0.9' })).rule?.where).toBe('/etc/p.acl:1');
    expect((await node({ addr: '10.2.0.1' })).allowed).toBe(false);
  });

  test('exact IP: only that address', async () => {
    expect((await node({ addr: '192.0.2.5' })).rule?.where).toBe('/etc/p.acl:2');
    expect((await node({ addr: '192.0.2.6' })).allowed).toBe(false);
  });

  test('host name: the peer address must be one the name resolves to', async () => {
    expect((await node({ addr: '127.0.0.1', host: '127.0.0.1' })).rule?.where).toBe('/etc/p.acl:3');
    const d = await node({ addr: '127.0.0.2', host: '127.0.0.2' });
    expect(d.allowed).toBe(false);
    expect(d.reason).toContain('host 127.0.0.2 not localhost');
  });

  test('Kerberos host principal: the authenticated name matches names and globs; a name is not an address', async () => {
    expect((await node({ host: 'localhost', addr: '198.51.100.1' })).rule?.where).toBe('/etc/p.acl:3');
    expect((await node({ host: 'n17.nodes.example', addr: '198.51.100.1' })).rule?.where).toBe('/etc/p.acl:4');
    expect((await node({ host: 'n17.nodes.example.evil', addr: '198.51.100.1' })).allowed).toBe(false);
    // A glob never matches a bare address (no reverse DNS: the peer controls it).
    expect((await node({ addr: '198.51.100.1' })).allowed).toBe(false);
  });

  test('IPv6 CIDR', async () => {
    expect((await node({ addr: 'fd12::1' })).rule?.where).toBe('/etc/p.acl:5');
    expect((await node({ addr: 'fe80::1' })).allowed).toBe(false);
  });

  test('a caller with no known host never matches a host rule', async () => {
    expect((await node({})).allowed).toBe(false);
  });
});
