/**
 * The one trusted-path check (after munge's `path_is_secure`): every file or directory that root
 * trusts (the store's key file, policy file, audit log and state directory, keytabs, the keeper's
 * refresh command, the config file) is opened here and nowhere else.
 *
 * A path is trusted when
 *   - it is not a symbolic link (opened with O_NOFOLLOW) and is of the expected type;
 *   - the open descriptor's owner is root or us, its mode has none of the forbidden bits, and a
 *     regular file has exactly one link (a hard link elsewhere would let its owner swap contents);
 *   - every directory from its parent up to `/` (symbolic links resolved) is owned by root or us
 *     and not writable by group or others unless sticky (as /tmp): nobody else can replace it.
 * The caller gets the open descriptor, so what it reads is what was checked.
 */
import * as fs from 'node:fs';
import { constants as C } from 'node:fs';
import { dirname } from 'node:path';
import { ErrorCode, Krb5BridgeError } from '../errors';

export interface TrustOptions {
  /** What the path is, for messages: "store key file", "policy file", "keytab", ... */
  what: string;
  type: 'file' | 'dir';
  /** Mode bits that must be clear: 0o077 for secrets, 0o022 for what others must not change. */
  forbid: number;
  /** Open for reading (default), or for appending, created with mode 0600 when missing. */
  open?: 'read' | 'append';
  /** The error code of a refusal (default E_UNSAFE_PATH). */
  code?: ErrorCode;
  /** Accepted owners besides root (default: our euid). */
  owners?: number[];
  /** What to say after a mode refusal instead of the default "chmod ... it". */
  modeRemedy?: string;
}

export interface Trusted {
  fd: number;
  stat: fs.Stats;
}

export function modeString(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

function euid(): number {
  return typeof process.geteuid === 'function' ? process.geteuid() : 0;
}

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e);
}

/** Every directory from `dir` up to `/` is owned by root or us and not writable by others (unless sticky). */
export function checkTrustedAncestors(dir: string, what: string, code: ErrorCode = 'E_UNSAFE_PATH', owners: number[] = [euid()]): void {
  let real: string;
  try {
    real = fs.realpathSync(dir);
  } catch (e) {
    throw new Krb5BridgeError(code, `${what}: cannot resolve its directory ${dir}: ${errnoOf(e)}`, { cause: e });
  }
  for (let d = real; ; d = dirname(d)) {
    const st = fs.lstatSync(d);
    const mode = st.mode & 0o7777;
    if (!st.isDirectory()) throw new Krb5BridgeError(code, `${what}: ${d} is not a directory`);
    if (st.uid !== 0 && !owners.includes(st.uid)) {
      throw new Krb5BridgeError(code, `${what}: directory ${d} is owned by uid ${st.uid}, not root (mode ${modeString(mode)}); its owner could replace what it holds`);
    }
    if (mode & 0o022 && !(mode & 0o1000)) {
      throw new Krb5BridgeError(code, `${what}: directory ${d} is writable by group or others and not sticky (mode ${modeString(mode)}); chmod go-w ${d}`);
    }
    if (d === '/') return;
  }
}

/**
 * Open `path` if it is trusted (see above); throws `code` naming the path, what is wrong and what
 * to do. The caller owns the descriptor.
 */
export function openTrusted(path: string, o: TrustOptions): Trusted {
  const code = o.code ?? 'E_UNSAFE_PATH';
  const owners = [euid(), ...(o.owners ?? [])];
  if (!path.startsWith('/')) throw new Krb5BridgeError(code, `${o.what} must be an absolute path, got "${path}"`);
  checkTrustedAncestors(dirname(path), `${o.what} ${path}`, code, owners);
  let flags = C.O_NOFOLLOW | C.O_NONBLOCK; // libuv adds O_CLOEXEC
  if (o.type === 'dir') flags |= C.O_RDONLY | C.O_DIRECTORY;
  else if (o.open === 'append') flags |= C.O_WRONLY | C.O_APPEND | C.O_CREAT;
  else flags |= C.O_RDONLY;
  let fd: number;
  try {
    fd = fs.openSync(path, flags, 0o600);
  } catch (e) {
    const err = errnoOf(e);
    // O_NOFOLLOW|O_DIRECTORY on a symbolic link says ENOTDIR: ask lstat which it is.
    const link = err === 'ELOOP' || (err === 'ENOTDIR' && fs.lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink());
    const why = link ? 'it is a symbolic link' : err === 'ENOTDIR' ? 'it is not a directory' : err === 'ENOENT' ? 'it does not exist' : err;
    throw new Krb5BridgeError(code, `cannot open the ${o.what} ${path}: ${why}`, { cause: e });
  }
  try {
    const stat = fs.fstatSync(fd);
    const mode = modeString(stat.mode);
    const refuse = (why: string): never => {
      throw new Krb5BridgeError(code, `${o.what} ${path} ${why}`);
    };
    if (o.type === 'file' && !stat.isFile()) refuse('is not a regular file');
    if (stat.uid !== 0 && !owners.includes(stat.uid)) refuse(`is owned by uid ${stat.uid}, not ${owners[0]} (mode ${mode}); chown root it`);
    if (o.type === 'file' && stat.nlink !== 1) refuse(`has ${stat.nlink} hard links; give it its own file`);
    if (stat.mode & o.forbid) {
      const who = o.forbid & 0o044 ? 'access' : 'write';
      refuse(`has mode ${mode}: group or others may ${who} it; ${o.modeRemedy ?? `chmod ${o.forbid & 0o044 ? (o.type === 'dir' ? '0700' : '0600') : 'go-w'} it`}`);
    }
    return { fd, stat };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** Read a trusted file whole (bounded), closing it. */
export function readTrusted(path: string, o: Omit<TrustOptions, 'type' | 'open'>, maxBytes = 4 * 1024 * 1024): string {
  const { fd, stat } = openTrusted(path, { ...o, type: 'file' });
  try {
    if (stat.size > maxBytes) throw new Krb5BridgeError(o.code ?? 'E_UNSAFE_PATH', `${o.what} ${path} is larger than ${maxBytes} bytes`);
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A private directory of ours (root state: job records, the store's state, the keeper's socket):
 * created 0700 when missing (its parent must exist), then checked like any trusted path with
 * group/other write forbidden.
 */
export function ensureTrustedDir(path: string, what: string, code: ErrorCode = 'E_STATE'): void {
  try {
    fs.mkdirSync(path, { mode: 0o700 });
  } catch (e) {
    if (errnoOf(e) !== 'EEXIST') throw new Krb5BridgeError(code, `cannot create the ${what} ${path}: ${errnoOf(e)}`, { cause: e });
  }
  fs.closeSync(openTrusted(path, { what, type: 'dir', forbid: 0o022, code, modeRemedy: `chmod 0700 ${path}` }).fd);
}
