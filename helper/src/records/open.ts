/**
 * Opening the store's records: the key ring (created on first start), the codec, then the
 * backend named by the `storage` config key. Each backend is a folder that registers here; the
 * handlers, the renewer and key rotation see only the RecordStore interface.
 */
import { Krb5BridgeError } from '../errors';
import { RecordCodec } from './codec';
import { DirRecordStore } from './dir';
import { EtcdRecordStore } from './etcd';
import { loadOrCreateKeyFile } from './keyfile';
import type { RecordStore, StoredCredential } from './types';

/** storage = etcd: where and how (config keys etcd_*). */
export interface EtcdSettings {
  endpoints: string;
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  prefix: string;
  leaseTtl: number;
  /** Bound on one etcd operation, ms. */
  timeoutMs: number;
}

export interface OpenRecordsOptions {
  storage: string;
  /** storage = dir: the state directory. */
  stateDir: string;
  /** storage = etcd: the cluster (E_CONFIG when missing). */
  etcd?: EtcdSettings | undefined;
  keyFile: string;
  log: (line: string) => void;
  /** A loaded record must also pass this, else it is set aside (never served). */
  validate?: (cred: StoredCredential) => void;
}

export interface OpenedRecords {
  records: RecordStore;
  codec: RecordCodec;
}

type Backend = (o: OpenRecordsOptions, codec: RecordCodec) => Promise<RecordStore>;

const BACKENDS: Record<string, Backend> = {
  dir: (o, codec) => DirRecordStore.open({ root: o.stateDir, codec, log: o.log, validate: o.validate }),
  etcd: (o, codec) => {
    if (!o.etcd) throw new Krb5BridgeError('E_CONFIG', 'storage = etcd needs etcd_endpoints (http(s)://HOST:PORT of the etcd members, comma-separated)');
    return EtcdRecordStore.open({ ...o.etcd, codec, keyFile: o.keyFile, log: o.log, validate: o.validate });
  },
};

export async function openRecords(o: OpenRecordsOptions): Promise<OpenedRecords> {
  const backend = BACKENDS[o.storage];
  if (!backend) throw new Krb5BridgeError('E_CONFIG', `storage "${o.storage}" is not one of ${Object.keys(BACKENDS).join(', ')}`);
  const keys = await loadOrCreateKeyFile(o.keyFile);
  if (keys.created) o.log(`created the store key file ${o.keyFile} (0600) with a new key; keep a copy apart from the state directory's backups`);
  if (keys.ring.all().length > 1) o.log(`${o.keyFile} holds ${keys.ring.all().length} keys: a key rotation did not finish; run \`krb5bridge rotate-key\` again`);
  const codec = new RecordCodec(keys.ring);
  return { records: await backend(o, codec), codec };
}
