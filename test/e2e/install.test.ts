/**
 * `make install DESTDIR=...` gives a helper that runs from its installed place alone (its bundle,
 * koffi and koffi's native module), a plugin, and a launcher naming node by absolute path.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../lib/cluster';

const dest = mkdtempSync(join(tmpdir(), 'krb5bridge-install-'));
afterAll(() => rmSync(dest, { recursive: true, force: true }));

test('make install puts a working helper, launcher and plugin under DESTDIR/PREFIX', () => {
  const make = spawnSync('make', ['-s', 'install', `DESTDIR=${dest}`, 'PREFIX=/opt/kb'], { cwd: REPO, encoding: 'utf8' });
  expect(make.status).toBe(0);
  const lib = join(dest, 'opt/kb/lib/krb5bridge');
  expect(existsSync(join(dest, 'opt/kb/lib/slurm/krb5bridge.so'))).toBe(true);
  const launcher = readFileSync(join(dest, 'opt/kb/bin/krb5bridge'), 'utf8');
  expect(launcher).toMatch(/^#!\/bin\/sh\nexec \/\S+\/node \/opt\/kb\/lib\/krb5bridge\/krb5bridge\.cjs "\$@"\n$/);
  // Run the installed bundle from outside the source tree, so only installed modules can load.
  const r = spawnSync(process.execPath, [join(lib, 'krb5bridge.cjs'), 'ticket', '--ccache', 'FILE:/nonexistent/cc'], {
    cwd: '/',
    encoding: 'utf8',
    env: { PATH: '/usr/bin:/bin' },
  });
  expect(r.stderr).toBe(
    'krb5bridge: E_NO_TICKET: no Kerberos ticket found; run kinit, then submit again: credential cache FILE:/nonexistent/cc: No credentials cache found (filename: /nonexistent/cc)\n',
  );
  expect(r.status).toBe(10);
});
