/** The store answers this host and authenticates it as the uid it runs as (munge or Kerberos, per `auth`). */
import { existsSync } from 'node:fs';
import { ping } from '../client/client';
import { type CheckGroup, fail, ok, why } from './types';

export const storeChecks: CheckGroup = {
  roles: ['login', 'compute', 'gateway'],
  async run({ config, root }) {
    try {
      // Root in krb5 mode is this host, with its host keytab where it has one (as the keeper is).
      const r = await ping(config, root && config.auth === 'krb5' && existsSync(config.client_keytab) ? { role: 'node' } : undefined);
      const uid = process.getuid?.() ?? -1;
      if (r.uid !== uid) return [fail('store', `the store at ${config.store} authenticated this host as uid ${r.uid}, not ${uid}`, 'check store_uid and the munge key, or the principal mapping in krb5 mode')];
      const storage = r.storage ? `; its storage refuses writes: ${r.storage}` : '';
      return [
        r.storage
          ? fail('store', `the store at ${config.store} (version ${r.version}) answers${storage}`, 'free space or fix the storage on the store host')
          : ok('store', `the store at ${config.store} (version ${r.version}, ${config.auth}) authenticated this host as uid ${r.uid}`),
      ];
    } catch (e) {
      return [fail('store', `the store at ${config.store} does not answer: ${why(e)}`, 'start the store (systemctl start krb5bridge-store on the store host) and check `store` in the config and the firewall')];
    }
  },
};
