/**
 * A throwaway MIT KDC for the tests of the Kerberos code (krb5/, node/): the same one every test
 * uses, `scripts/testcluster up --only kdc` (private realm, free port, every file in one directory;
 * tickets 10 h, renewable 7 d). This adds what those tests need on top: any principal with a
 * keytab, kinit of any principal into any ccache (as root), and the KDC stopped for good.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { libc } from '../../helper/src/sys/libc';
import { TESTCLUSTER } from './cluster';

export interface TestKdc {
  dir: string;
  realm: string;
  env: NodeJS.ProcessEnv;
  krb5Config: string;
  /** kinit PRINC into ccache NAME (the key from the principals' keytab). */
  kinit(princ: string, ccache: string, args?: string[]): void;
  /** A principal PRINC@REALM (renewable) with its key in the principals' keytab. */
  addPrincipal(princ: string): void;
  /** A kadmin.local query on the realm, e.g. `modprinc -allow_renewable PRINC`. */
  kadmin(query: string): void;
  /** The KDC's log (one line per AS and TGS request). */
  log: string;
  /** Stop the KDC and remove its directory. */
  stop(): void;
  /**
   * Stop the KDC, keep its directory (stop() removes it): a test that wants "KDC unreachable"
   * needs krb5.conf still there, for libkrb5 stats it again (once a second at most) and skips a
   * missing one, which makes the realm unknown instead.
   */
  halt(): void;
}

export function haveKdc(): boolean {
  return ['/usr/sbin/krb5kdc', '/usr/sbin/kdb5_util', '/usr/sbin/kadmin.local', '/usr/bin/kinit'].every((p) => existsSync(p));
}

export async function startKdc(): Promise<TestKdc> {
  const base = mkdtempSync('/tmp/krb5bridge-kdctest-');
  chmodSync(base, 0o755);
  const dir = execFileSync(TESTCLUSTER, ['up', '--only', 'kdc', '--dir', base], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  const vars: Record<string, string> = {};
  for (const line of readFileSync(join(dir, 'env'), 'utf8').split('\n')) {
    const m = /^export (\w+)=(.*)$/.exec(line);
    if (m) vars[m[1]!] = m[2]!;
  }
  const realm = vars.TC_REALM!;
  const env = { ...process.env, KRB5_CONFIG: vars.KRB5_CONFIG!, KRB5_KDC_PROFILE: vars.KRB5_KDC_PROFILE! };
  const run = (cmd: string, args: string[]): Buffer => execFileSync(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const keytab = join(dir, 'kdc', 'principals.keytab');
  return {
    dir,
    realm,
    env,
    krb5Config: vars.KRB5_CONFIG!,
    log: join(dir, 'log', 'kdc.log'),
    kadmin(query) {
      run('/usr/sbin/kadmin.local', ['-r', realm, '-q', query]);
    },
    addPrincipal(princ) {
      run('/usr/sbin/kadmin.local', ['-r', realm, '-q', `addprinc -randkey +renewable ${princ}@${realm}`]);
      run('/usr/sbin/kadmin.local', ['-r', realm, '-q', `ktadd -k ${keytab} ${princ}@${realm}`]);
    },
    kinit(princ, ccache, args = ['-r', '7d', '-l', '10h']) {
      run('/usr/bin/kinit', [...args, '-k', '-t', keytab, '-c', ccache, `${princ}@${realm}`]);
    },
    stop() {
      spawnSync(TESTCLUSTER, ['down', '--dir', dir, '--rm'], { stdio: 'ignore' });
    },
    halt() {
      spawnSync(TESTCLUSTER, ['down', '--dir', dir], { stdio: 'ignore' });
    },
  };
}

/**
 * Jest gives tests a copy of process.env; libkrb5 reads the real environ (getenv) when its
 * context is created, so set KRB5_CONFIG there, before the first krb5 call of the test file.
 */
export function setNativeEnv(name: string, value: string): void {
  if (libc().setenv(name, value, 1) !== 0) throw new Error(`setenv ${name} failed`);
  process.env[name] = value;
}
