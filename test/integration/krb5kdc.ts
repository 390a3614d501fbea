/**
 * A real throwaway MIT KDC for the krb5/node unit tests (per docs/test-cluster.md): private
 * realm, free port, every file in one temp dir. `kinit` gets real tickets from it.
 */
import { execFileSync, spawn, ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';

export interface TestKdc {
  dir: string;
  realm: string;
  env: NodeJS.ProcessEnv;
  krb5Config: string;
  /** kinit PRINC into ccache NAME (password from the keytab). */
  kinit(princ: string, ccache: string, args?: string[]): void;
  addPrincipal(princ: string): void;
  stop(): void;
}

export function haveKdc(): boolean {
  return ['/usr/sbin/krb5kdc', '/usr/sbin/kdb5_util', '/usr/sbin/kadmin.local', '/usr/bin/kinit'].every((p) => existsSync(p));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

export async function startKdc(): Promise<TestKdc> {
  const dir = mkdtempSync(join(tmpdir(), 'k5kdc-'));
  const realm = `K5T${Math.random().toString(36).slice(2, 8).toUpperCase()}.TEST`;
  const port = await freePort();
  const krb5Config = join(dir, 'krb5.conf');
  const kdcConf = join(dir, 'kdc.conf');
  writeFileSync(
    krb5Config,
    `[libdefaults]\n default_realm = ${realm}\n dns_lookup_kdc = false\n dns_lookup_realm = false\n rdns = false\n` +
      ` forwardable = true\n\n[realms]\n ${realm} = {\n  kdc = 127.0.0.1:${port}\n }\n`,
  );
  writeFileSync(
    kdcConf,
    `[kdcdefaults]\n kdc_listen = 127.0.0.1:${port}\n kdc_tcp_listen = 127.0.0.1:${port}\n\n[realms]\n ${realm} = {\n` +
      `  database_name = ${dir}/principal\n  key_stash_file = ${dir}/stash\n  acl_file = ${dir}/kadm5.acl\n` +
      `  max_life = 1d\n  max_renewable_life = 7d\n  default_principal_flags = +renewable +forwardable\n }\n\n` +
      `[logging]\n kdc = FILE:${dir}/kdc.log\n`,
  );
  writeFileSync(join(dir, 'kadm5.acl'), '');
  const env = { ...process.env, KRB5_CONFIG: krb5Config, KRB5_KDC_PROFILE: kdcConf };
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  run('/usr/sbin/kdb5_util', ['create', '-s', '-r', realm, '-P', 'masterpw']);
  run('/usr/sbin/kadmin.local', ['-r', realm, '-q', `modprinc -maxrenewlife 7d krbtgt/${realm}@${realm}`]);
  // Bounded life: if the test process dies before afterAll, the KDC does not outlive it by much.
  const child: ChildProcess = spawn('/usr/bin/timeout', ['900', '/usr/sbin/krb5kdc', '-n', '-r', realm], { env, stdio: 'ignore' });
  const keytab = join(dir, 'keytab');
  const kdc: TestKdc = {
    dir,
    realm,
    env,
    krb5Config,
    addPrincipal(princ) {
      run('/usr/sbin/kadmin.local', ['-r', realm, '-q', `addprinc -randkey +renewable ${princ}@${realm}`]);
      run('/usr/sbin/kadmin.local', ['-r', realm, '-q', `ktadd -k ${keytab} ${princ}@${realm}`]);
    },
    kinit(princ, ccache, args = ['-r', '7d', '-l', '10h']) {
      run('/usr/bin/kinit', [...args, '-k', '-t', keytab, '-c', ccache, `${princ}@${realm}`]);
    },
    stop() {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  kdc.addPrincipal('host/localhost');
  const ready = await waitFor(() => {
    try {
      kdc.kinit('host/localhost', `MEMORY:probe`, []);
      return true;
    } catch {
      return false;
    }
  }, 10000);
  if (!ready) {
    kdc.stop();
    throw new Error(`test KDC did not answer on 127.0.0.1:${port} (log ${dir}/kdc.log)`);
  }
  return kdc;
}

/**
 * jest gives tests a copy of process.env; libkrb5 reads the real environ (getenv) when its
 * context is created, so set KRB5_CONFIG there, before the first krb5 call of the test file.
 */
export function setNativeEnv(name: string, value: string): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const koffi = require('koffi') as typeof import('koffi');
  const setenv = koffi.load('libc.so.6').func('int setenv(const char *name, const char *value, int overwrite)');
  if (setenv(name, value, 1) !== 0) throw new Error(`setenv ${name} failed`);
  process.env[name] = value;
}
