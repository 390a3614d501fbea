/**
 * The one binding table of the C library (glibc, LP64) for everything Node has no API for: flock,
 * SO_PEERCRED, core limits and dumpability, NSS account lookups, and the C memory that libkrb5
 * calls need. Bound once, on first use, so a verb that needs none of it loads nothing.
 *
 * Calls that may block on the network or on another process (NSS lookups) are `AsyncFn`s: run them
 * with `callAsync` on koffi's worker threads, never on the event loop.
 */
import koffi from 'koffi';

export type Ptr = bigint;

/** A koffi function that can also run on koffi's worker threads. */
export interface AsyncFn {
  (...args: unknown[]): unknown;
  async: (...args: unknown[]) => void;
}

/** Run a bound function on a koffi worker thread; resolves with its return value. */
export function callAsync(f: AsyncFn, ...args: unknown[]): Promise<number> {
  return new Promise((resolve, reject) => f.async(...args, (err: unknown, res: number) => (err ? reject(err) : resolve(res))));
}

// Anonymous struct types: jest loads modules once per test file into one process, and koffi
// refuses a second type of the same name.
const Rlimit = koffi.struct({ cur: 'uint64_t', max: 'uint64_t' });
/** struct passwd, for getpwnam_r and getpwuid_r. */
export const Passwd = koffi.struct({
  pw_name: 'char *',
  pw_passwd: 'void *',
  pw_uid: 'uint32_t',
  pw_gid: 'uint32_t',
  pw_gecos: 'void *',
  pw_dir: 'void *',
  pw_shell: 'void *',
});
/** struct group, for getgrnam_r. */
export const Group = koffi.struct({ gr_name: 'void *', gr_passwd: 'void *', gr_gid: 'uint32_t', gr_mem: 'void *' });

function bind() {
  const lib = koffi.load('libc.so.6');
  return {
    // files and sockets
    flock: lib.func('int flock(int fd, int op)') as (fd: number, op: number) => number,
    getsockopt: lib.func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ uint32_t *len)') as (
      fd: number,
      level: number,
      name: number,
      val: Buffer,
      len: number[],
    ) => number,
    // process hardening
    setrlimit: lib.func('setrlimit', 'int', ['int', koffi.pointer(Rlimit)]) as (resource: number, r: { cur: bigint; max: bigint }) => number,
    getrlimit: lib.func('getrlimit', 'int', ['int', koffi.out(koffi.pointer(Rlimit))]) as (resource: number, r: { cur: bigint; max: bigint }) => number,
    prctl: lib.func('prctl', 'int', ['int', 'unsigned long', 'unsigned long', 'unsigned long', 'unsigned long']) as (
      option: number,
      a2: number,
      a3: number,
      a4: number,
      a5: number,
    ) => number,
    // accounts (NSS: files, LDAP, sssd); may block: AsyncFn
    getpwnam_r: lib.func('getpwnam_r', 'int', ['str', koffi.out(koffi.pointer(Passwd)), 'void *', 'size_t', koffi.out(koffi.pointer('void *'))]) as unknown as AsyncFn,
    getpwuid_r: lib.func('getpwuid_r', 'int', ['uint32_t', koffi.out(koffi.pointer(Passwd)), 'void *', 'size_t', koffi.out(koffi.pointer('void *'))]) as unknown as AsyncFn,
    getgrouplist: lib.func('getgrouplist', 'int', ['str', 'uint32_t', 'void *', koffi.inout(koffi.pointer('int'))]) as unknown as AsyncFn,
    getgrnam_r: lib.func('getgrnam_r', 'int', ['str', koffi.out(koffi.pointer(Group)), 'void *', 'size_t', koffi.out(koffi.pointer('void *'))]) as unknown as AsyncFn,
    // C memory for libkrb5 structures (koffi.alloc/view keep ~200 bytes alive per call: measured)
    calloc: lib.func('void *calloc(size_t n, size_t size)') as (n: number, size: number) => Ptr | null,
    free: lib.func('void free(void *p)') as (p: Ptr) => void,
    memcpy: lib.func('void *memcpy(void *dst, const void *src, size_t n)') as (dst: Ptr | Buffer, src: Ptr | Buffer, n: number) => unknown,
    explicit_bzero: lib.func('void explicit_bzero(void *p, size_t n)') as (p: Ptr, n: number) => void,
    // the C library's own environment (libkrb5 reads KRB5_CONFIG there, not in process.env)
    setenv: lib.func('int setenv(str name, str value, int overwrite)') as (name: string, value: string, overwrite: number) => number,
  };
}

let table: ReturnType<typeof bind> | undefined;

/** The bound functions (bound on first use). */
export function libc(): ReturnType<typeof bind> {
  table ??= bind();
  return table;
}

/** errno of the last call made through koffi on this thread. */
export function errno(): number {
  return koffi.errno();
}

// <sys/file.h>, <sys/socket.h>, <sys/resource.h>, <sys/prctl.h>, <errno.h> (Linux, every architecture Node runs on)
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
export const SOL_SOCKET = 1;
export const SO_PEERCRED = 17;
export const RLIMIT_CORE = 4;
export const RLIMIT_NOFILE = 7;
export const PR_GET_DUMPABLE = 3;
export const PR_SET_DUMPABLE = 4;
export const EINTR = 4;
export const EWOULDBLOCK = 11;
export const ERANGE = 34;
