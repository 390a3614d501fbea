/**
 * `krb5bridge rotate-key`: re-encrypt every stored credential with a new key (records/rotate.ts).
 * Online (default): asks the running store (admin role). `--offline`: does it on the state
 * directory itself, refusing while a store holds it. `--prepare`: only adds the next key to the
 * key file (decrypt-only) for copying to every store host before an online rotation with several
 * stores (storage = etcd; docs/security.md).
 */
import type { CommandModule } from 'yargs';
import { rotateStoreKey } from '../client/client';
import { DEFAULT_STORE_STATE_DIR } from '../config/config';
import { RecordCodec } from '../records/codec';
import { DirRecordStore } from '../records/dir';
import { loadKeyFile, prepareKey } from '../records/keyfile';
import { rotateKey } from '../records/rotate';
import { logLine } from '../util/log';
import { out, outJson } from '../client/print';
import { Krb5BridgeError } from '../errors';
import { GlobalArgs, configFrom } from './common';

interface Args extends GlobalArgs {
  offline?: boolean;
  prepare?: boolean;
  'state-dir'?: string;
  'key-file'?: string;
}

export const rotateKeyCommand: CommandModule<GlobalArgs, Args> = {
  command: 'rotate-key',
  describe: 'Re-encrypt every stored credential with a new key (as root; online via the store, or --offline)',
  builder: (y) =>
    y
      .option('offline', { type: 'boolean', describe: 'rotate on the state directory directly (the store must be stopped)' })
      .option('prepare', { type: 'boolean', conflicts: 'offline', describe: 'only add the next key to the key file (it decrypts; the rotation makes it encrypt): copy the file to every store host, then rotate' })
      .option('state-dir', { type: 'string', describe: `--offline: the store's state directory (config: state_dir, default ${DEFAULT_STORE_STATE_DIR})` })
      .option('key-file', { type: 'string', describe: '--offline, --prepare: the key file (config: key_file)' }),
  handler: async (args) => {
    const config = configFrom(args, { state_dir: args['state-dir'], key_file: args['key-file'] });
    let r: { keyId: number; rewritten: number; total: number };
    if (args.prepare) {
      const id = await prepareKey(config.key_file);
      if (args.json) return outJson({ prepared: id, keyFile: config.key_file });
      return out(`prepared: key ${id} added to ${config.key_file} (it decrypts; key ${loadKeyFile(config.key_file).current.id} still encrypts). Copy this file to every store host (each store reads it again within 5 s), then run krb5bridge rotate-key`);
    }
    if (args.offline) {
      if (config.storage !== 'dir') throw new Krb5BridgeError('E_USAGE', `--offline rotates a state directory (storage = dir); with storage = ${config.storage} rotate online through a running store`);
      const codec = new RecordCodec(loadKeyFile(config.key_file));
      const records = await DirRecordStore.open({
        root: config.state_dir ?? DEFAULT_STORE_STATE_DIR,
        codec,
        log: logLine,
        lockHint: 'stop the store, or rotate online (without --offline)',
      });
      try {
        const res = await rotateKey(records, codec.keys, config.key_file);
        r = { keyId: res.id, rewritten: res.rewritten, total: res.total };
      } finally {
        await records.close();
      }
    } else {
      r = await rotateStoreKey(config);
    }
    if (args.json) return outJson(r);
    out(`rotated: key ${r.keyId} now encrypts all ${r.total} record(s) (${r.rewritten} re-encrypted); the old key is gone from the key file`);
  },
};
