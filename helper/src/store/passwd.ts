/**
 * Local account (uid, gid) of a user name through the C library's getpwnam_r, so that the answer
 * is the system's (NSS: files, LDAP, sssd), exactly what login and Slurm see; reading /etc/passwd
 * would miss directory users. The call runs on a koffi worker thread (an NSS lookup may go to the
 * network) and answers are cached briefly. The principal binding rule needs the uid; the krb5
 * mechanism needs both ids of a principal's local account.
 */
import koffi from 'koffi';
import { Krb5BridgeError } from '../errors';

export interface Account {
  uid: number;
  gid: number;
}

interface Async {
  async: (...args: unknown[]) => void;
}

let getpwnamR: Async | undefined;

let passwdType: ReturnType<typeof koffi.struct> | undefined;

/**
 * struct passwd (glibc, LP64), for getpwnam_r here and getpwuid_r in groups.ts. Anonymous and made
 * once: jest loads a module once per test file into one koffi, which refuses a second type of one
 * name.
 */
export function passwdStruct(): ReturnType<typeof koffi.struct> {
  passwdType ??= koffi.struct({
    pw_name: 'char *',
    pw_passwd: 'void *',
    pw_uid: 'uint32_t',
    pw_gid: 'uint32_t',
    pw_gecos: 'void *',
    pw_dir: 'void *',
    pw_shell: 'void *',
  });
  return passwdType;
}

function bind(): Async {
  if (getpwnamR) return getpwnamR;
  const passwd = passwdStruct();
  getpwnamR = koffi.load('libc.so.6').func('getpwnam_r', 'int', ['str', koffi.out(koffi.pointer(passwd)), 'void *', 'size_t', koffi.out(koffi.pointer('void *'))]) as unknown as Async;
  return getpwnamR;
}

const ERANGE = 34;

function lookup(name: string, size = 16384): Promise<Account | undefined> {
  const fn = bind();
  return new Promise((resolve, reject) => {
    const pwd: Record<string, unknown> = {};
    const result: unknown[] = [null];
    fn.async(name, pwd, Buffer.alloc(size), size, result, (err: unknown, rc: number) => {
      if (err) return reject(new Krb5BridgeError('E_INTERNAL', `getpwnam_r(${name}): ${String(err)}`, { cause: err }));
      if (rc === ERANGE && size < 1 << 20) return resolve(lookup(name, size * 4));
      if (rc !== 0) return reject(new Krb5BridgeError('E_INTERNAL', `getpwnam_r(${name}) failed with errno ${rc}`));
      resolve(result[0] ? { uid: pwd.pw_uid as number, gid: pwd.pw_gid as number } : undefined);
    });
  });
}

/** Positive answers live `ttlMs`, "no such user" `negativeTtlMs`. */
export class AccountResolver {
  private readonly cache = new Map<string, { account: Account | undefined; until: number }>();

  constructor(
    private readonly ttlMs = 60_000,
    private readonly negativeTtlMs = 5_000,
  ) {}

  async of(name: string): Promise<Account | undefined> {
    if (name.length === 0 || name.length > 256 || name.includes('\0')) return undefined;
    const now = Date.now();
    const hit = this.cache.get(name);
    if (hit && hit.until > now) return hit.account;
    const account = await lookup(name);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(name, { account, until: now + (account === undefined ? this.negativeTtlMs : this.ttlMs) });
    return account;
  }
}

/** Local user name -> uid (the principal binding rule), on the same cached lookups. */
export class UidResolver {
  private readonly accounts: AccountResolver;

  constructor(ttlMs = 60_000, negativeTtlMs = 5_000) {
    this.accounts = new AccountResolver(ttlMs, negativeTtlMs);
  }

  async uidOf(name: string): Promise<number | undefined> {
    return (await this.accounts.of(name))?.uid;
  }
}
