/**
 * Local accounts and groups through the C library (getpwnam_r, getpwuid_r, getgrouplist,
 * getgrnam_r), so that answers are the system's (NSS: files, LDAP, sssd), exactly what login and
 * Slurm see; reading /etc/passwd would miss directory users. Every lookup runs on a koffi worker
 * thread (NSS may go to the network) and answers are cached briefly.
 * Users: the principal binding rule (uid of a local name), the krb5 mechanism (uid and gid of a
 * principal's account), ACL `group` rules (every gid of a uid) and policy parsing (gid of a name).
 */
import { Krb5BridgeError } from '../errors';
import { TtlCache } from '../util/ttlcache';
import koffi from 'koffi';
import { ERANGE, libc, callAsync, type Ptr } from './libc';

export interface Account {
  uid: number;
  gid: number;
  /** The home directory (the gateway's default working directory for jobs). */
  home?: string | undefined;
}

/** getpwnam_r: the account of a user name, or undefined if there is none. */
async function lookupName(name: string, size = 16384): Promise<Account | undefined> {
  const pwd: Record<string, unknown> = {};
  const result: unknown[] = [null];
  let rc: number;
  try {
    rc = await callAsync(libc().getpwnam_r, name, pwd, Buffer.alloc(size), size, result);
  } catch (e) {
    throw new Krb5BridgeError('E_INTERNAL', `getpwnam_r(${name}): ${String(e)}`, { cause: e });
  }
  if (rc === ERANGE && size < 1 << 20) return lookupName(name, size * 4);
  if (rc !== 0) throw new Krb5BridgeError('E_INTERNAL', `getpwnam_r(${name}) failed with errno ${rc}`);
  if (!result[0]) return undefined;
  const dir = pwd.pw_dir ? koffi.decode.string(pwd.pw_dir as Ptr) : '';
  return { uid: pwd.pw_uid as number, gid: pwd.pw_gid as number, home: dir.startsWith('/') ? dir : undefined };
}

/** getpwuid_r: the user name and primary gid of a uid, or undefined. */
async function lookupUid(uid: number): Promise<{ name: string; gid: number } | undefined> {
  const pwd: Record<string, unknown> = {};
  const result: unknown[] = [null];
  const buf = Buffer.alloc(16384);
  const rc = await callAsync(libc().getpwuid_r, uid, pwd, buf, buf.length, result);
  if (rc !== 0 || !result[0]) return undefined;
  return { name: pwd.pw_name as string, gid: pwd.pw_gid as number };
}

/** Every gid uid belongs to (primary and supplementary); empty for an unknown uid. */
async function lookupGroups(uid: number): Promise<number[]> {
  const pw = await lookupUid(uid);
  if (!pw) return [];
  for (let n = 64; n <= 65536; n *= 4) {
    const buf = Buffer.alloc(n * 4);
    const count = [n];
    const rc = await callAsync(libc().getgrouplist, pw.name, pw.gid, buf, count);
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
  const grp: Record<string, unknown> = {};
  const result: unknown[] = [null];
  const buf = Buffer.alloc(65536);
  const rc = await callAsync(libc().getgrnam_r, name, grp, buf, buf.length, result);
  return rc === 0 && result[0] ? (grp.gr_gid as number) : undefined;
}

/** Name -> account; positive answers live `ttlMs`, "no such user" `negativeTtlMs`. */
export class AccountResolver {
  private readonly cache = new TtlCache<string, Account | undefined>();

  constructor(
    private readonly ttlMs = 60_000,
    private readonly negativeTtlMs = 5_000,
  ) {}

  of(name: string): Promise<Account | undefined> {
    if (name.length === 0 || name.length > 256 || name.includes('\0')) return Promise.resolve(undefined);
    return this.cache.get(name, (a) => (a === undefined ? this.negativeTtlMs : this.ttlMs), () => lookupName(name));
  }

  /** The uid of a local user name (the principal binding rule). */
  async uidOf(name: string): Promise<number | undefined> {
    return (await this.of(name))?.uid;
  }
}

/** uid -> every gid it belongs to, cached a minute; a failed lookup is no groups. */
export class GroupResolver {
  private readonly cache = new TtlCache<number, number[]>();

  constructor(private readonly ttlMs = 60_000) {}

  groupsOf(uid: number): Promise<number[]> {
    return this.cache.get(uid, () => this.ttlMs, () => lookupGroups(uid).catch(() => []));
  }
}
