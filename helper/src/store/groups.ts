/**
 * Unix group membership of a uid, for ACL `group` rules: the C library's getpwuid_r then
 * getgrouplist (NSS: files, LDAP, sssd), exactly what login and Slurm see. Answers are cached a
 * minute; a lookup runs on a koffi worker thread (NSS may go to the network).
 */
import koffi from 'koffi';
import { passwdStruct } from './passwd';

interface AsyncFn {
  async: (...args: unknown[]) => void;
}

let fns: { getpwuidR: AsyncFn; getgrouplist: AsyncFn; getgrnamR: AsyncFn } | undefined;

function bind(): NonNullable<typeof fns> {
  if (fns) return fns;
  const libc = koffi.load('libc.so.6');
  const passwd = passwdStruct();
  const group = koffi.struct({ gr_name: 'void *', gr_passwd: 'void *', gr_gid: 'uint32_t', gr_mem: 'void *' });
  fns = {
    getpwuidR: libc.func('getpwuid_r', 'int', ['uint32_t', koffi.out(koffi.pointer(passwd)), 'void *', 'size_t', koffi.out(koffi.pointer('void *'))]) as unknown as AsyncFn,
    getgrouplist: libc.func('getgrouplist', 'int', ['str', 'uint32_t', 'void *', koffi.inout(koffi.pointer('int'))]) as unknown as AsyncFn,
    getgrnamR: libc.func('getgrnam_r', 'int', ['str', koffi.out(koffi.pointer(group)), 'void *', 'size_t', koffi.out(koffi.pointer('void *'))]) as unknown as AsyncFn,
  };
  return fns;
}

function call(fn: AsyncFn, args: unknown[]): Promise<number> {
  return new Promise((resolve, reject) => fn.async(...args, (err: unknown, rc: number) => (err ? reject(err) : resolve(rc))));
}

/** uid -> its user name and primary gid, or undefined if no such user. */
async function passwdOf(uid: number): Promise<{ name: string; gid: number } | undefined> {
  const f = bind();
  const pwd: Record<string, unknown> = {};
  const result: unknown[] = [null];
  const buf = Buffer.alloc(16384);
  const rc = await call(f.getpwuidR, [uid, pwd, buf, buf.length, result]);
  if (rc !== 0 || !result[0]) return undefined;
  return { name: pwd.pw_name as string, gid: pwd.pw_gid as number };
}

/** Every gid uid belongs to (primary and supplementary); empty for an unknown uid. */
async function lookupGroups(uid: number): Promise<number[]> {
  const pw = await passwdOf(uid);
  if (!pw) return [];
  const f = bind();
  for (let n = 64; n <= 65536; n *= 4) {
    const buf = Buffer.alloc(n * 4);
    const count = [n];
    const rc = await call(f.getgrouplist, [pw.name, pw.gid, buf, count]);
    if (rc >= 0) {
      const out: number[] = [];
      for (let i = 0; i < count[0]!; i++) out.push(buf.readUInt32LE(i * 4));
      return [...new Set(out)];
    }
  }
  return [pw.gid];
}

/** Group name -> gid (for parsing a policy), or undefined. */
export async function gidOfGroup(name: string): Promise<number | undefined> {
  if (name.length === 0 || name.length > 256 || name.includes('\0')) return undefined;
  const f = bind();
  const grp: Record<string, unknown> = {};
  const result: unknown[] = [null];
  const buf = Buffer.alloc(65536);
  const rc = await call(f.getgrnamR, [name, grp, buf, buf.length, result]);
  return rc === 0 && result[0] ? (grp.gr_gid as number) : undefined;
}

export class GroupResolver {
  private readonly cache = new Map<number, { gids: Promise<number[]>; until: number }>();

  constructor(private readonly ttlMs = 60_000) {}

  groupsOf(uid: number): Promise<number[]> {
    const now = Date.now();
    const hit = this.cache.get(uid);
    if (hit && hit.until > now) return hit.gids;
    if (this.cache.size > 10_000) this.cache.clear();
    const gids = lookupGroups(uid).catch(() => []);
    this.cache.set(uid, { gids, until: now + this.ttlMs });
    return gids;
  }
}
