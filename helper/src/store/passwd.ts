/**
 * Local user name -> uid, for the principal binding rule. Uses the C library's getpwnam_r (via
 * koffi) so that the answer is the system's (NSS: files, LDAP, sssd), exactly what login and
 * Slurm see; reading /etc/passwd would miss directory users. The call runs on a koffi worker
 * thread (an NSS lookup may go to the network) and answers are cached briefly: pushes are rare
 * next to fetches, but a burst of one user's pushes should not hit the directory each time.
 */
import koffi from 'koffi';
import { Krb5BridgeError } from '../errors';

interface GetpwnamR {
  async: (...args: unknown[]) => void;
}

let getpwnamR: GetpwnamR | undefined;

function bind(): GetpwnamR {
  if (getpwnamR) return getpwnamR;
  const libc = koffi.load('libc.so.6');
  // struct passwd (glibc, LP64): only pw_uid is read; the string pointers point into `buf`.
  // Anonymous: jest loads this module once per test file into one koffi, which refuses a second type of one name.
  const passwd = koffi.struct({
    pw_name: 'void *',
    pw_passwd: 'void *',
    pw_uid: 'uint32_t',
    pw_gid: 'uint32_t',
    pw_gecos: 'void *',
    pw_dir: 'void *',
    pw_shell: 'void *',
  });
  getpwnamR = libc.func('getpwnam_r', 'int', ['str', koffi.out(koffi.pointer(passwd)), 'void *', 'size_t', koffi.out(koffi.pointer('void *'))]) as unknown as GetpwnamR;
  return getpwnamR;
}

const ERANGE = 34;

function lookup(name: string, size = 16384): Promise<number | undefined> {
  const fn = bind();
  return new Promise((resolve, reject) => {
    const pwd: Record<string, unknown> = {};
    const result: unknown[] = [null];
    const buf = Buffer.alloc(size);
    fn.async(name, pwd, buf, size, result, (err: unknown, rc: number) => {
      if (err) return reject(new Krb5BridgeError('E_INTERNAL', `getpwnam_r(${name}): ${String(err)}`, { cause: err }));
      if (rc === ERANGE && size < 1 << 20) return resolve(lookup(name, size * 4));
      if (rc !== 0) return reject(new Krb5BridgeError('E_INTERNAL', `getpwnam_r(${name}) failed with errno ${rc}`));
      resolve(result[0] ? (pwd.pw_uid as number) : undefined);
    });
  });
}

/** A cached resolver; positive answers live `ttlMs`, "no such user" `negativeTtlMs`. */
export class UidResolver {
  private readonly cache = new Map<string, { uid: number | undefined; until: number }>();

  constructor(
    private readonly ttlMs = 60_000,
    private readonly negativeTtlMs = 5_000,
  ) {}

  async uidOf(name: string): Promise<number | undefined> {
    // A local name from auth_to_local; refuse anything getpwnam should never see.
    if (name.length === 0 || name.length > 256 || name.includes('\0')) return undefined;
    const now = Date.now();
    const hit = this.cache.get(name);
    if (hit && hit.until > now) return hit.uid;
    const uid = await lookup(name);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(name, { uid, until: now + (uid === undefined ? this.negativeTtlMs : this.ttlMs) });
    return uid;
  }
}
