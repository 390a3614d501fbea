/** munged on the configured socket: a credential encoded and decoded back, naming this uid. */
import { DEFAULT_MUNGE_SOCKET, mungeDecode, mungeEncode } from '../munge';
import { type CheckGroup, fail, ok, why } from './types';

export const mungeChecks: CheckGroup = {
  roles: ['login', 'compute', 'store'],
  async run({ config }) {
    const socket = config.munge_socket ?? DEFAULT_MUNGE_SOCKET;
    try {
      const cred = await mungeEncode(Buffer.from('krb5bridge doctor'), { socket });
      const d = await mungeDecode(cred, { socket });
      const uid = process.getuid?.() ?? -1;
      if (d.uid !== uid) return [fail('munge', `munged on ${socket} says uid ${d.uid}, this process is uid ${uid}`, 'restart munged; check that no other daemon answers on that socket')];
      return [ok('munge', `encode/decode on ${socket} works`)];
    } catch (e) {
      return [fail('munge', `encode/decode on ${socket} failed: ${why(e)}`, 'start munged (systemctl start munge), or set munge_socket to the socket it listens on; all hosts need the same munge key')];
    }
  },
};
