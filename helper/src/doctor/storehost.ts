/**
 * The store host: its state directory and key file are root's alone (the store refuses to start
 * otherwise), and its service keytab, when it has one, is root's and usable.
 */
import { lstatSync } from 'node:fs';
import { DEFAULT_STORE_STATE_DIR } from '../config/config';
import { hostServicePrincipal } from '../krb5';
import { modeString } from '../util/trustedpath';
import { keytabCheck } from './kerberos';
import { type CheckGroup, type Finding, fail, ok, skip } from './types';

function privatePath(check: string, path: string, kind: 'dir' | 'file', missing: string): Finding {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return ok(check, `${path} does not exist yet: ${missing}`);
  const right = kind === 'dir' ? st.isDirectory() : st.isFile();
  const want = kind === 'dir' ? '0700' : '0600';
  if (!right || st.uid !== 0 || st.mode & 0o077) {
    return fail(check, `${path} must be a ${kind === 'dir' ? 'directory' : 'regular file'} of root's with mode ${want}; it is owned by uid ${st.uid}, mode ${modeString(st.mode)}${right ? '' : `, not a ${kind === 'dir' ? 'directory' : 'regular file'}`}`, `chown root:root ${path} && chmod ${want} ${path}`);
  }
  return ok(check, `${path} is root's, mode ${modeString(st.mode)}`);
}

export const storeHostChecks: CheckGroup = {
  roles: ['store'],
  run({ config, root }) {
    if (!root) return [skip('store-state', 'run as root to check the store host')];
    const out = [
      privatePath('store-state', config.state_dir ?? DEFAULT_STORE_STATE_DIR, 'dir', 'created at the first start'),
      privatePath('key-file', config.key_file, 'file', 'created 0600 with a new key at the first start'),
    ];
    if (config.keytab) out.push(keytabCheck('store-keytab', config.keytab, () => config.store_principal ?? hostServicePrincipal('krb5bridge')));
    return out;
  },
};
