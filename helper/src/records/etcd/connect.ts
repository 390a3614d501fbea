/**
 * Connecting to etcd: the etcd3 client (loaded here only, so that no other verb pays for gRPC),
 * the members' URLs, and TLS. The CA, the client certificate and its key are read through the one
 * trusted-path check: the key must be root's and 0600, the certificates not writable by others
 * (whoever could swap the CA could put a store of theirs between this store and etcd).
 */
import type { Etcd3, IOptions } from 'etcd3';
import { parseEndpoints } from '../../config/config';
import { Krb5BridgeError } from '../../errors';
import { readTrusted } from '../../util/trustedpath';

export interface EtcdConnection {
  /** http(s)://HOST:PORT,... (config etcd_endpoints). */
  endpoints: string;
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  /** Bound on one etcd operation (a put, a read: its tries on several members together), so a cluster without quorum fails a push, not hangs it. */
  timeoutMs: number;
}

/** The etcd3 module, loaded on first use (the bundle keeps it external: build/etcd3). */
function etcd3(): typeof import('etcd3') {
  try {
    // Loaded when a store opens etcd, never at the helper's start (gRPC and protobuf cost ~50 ms).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('etcd3') as typeof import('etcd3');
  } catch (e) {
    throw new Krb5BridgeError('E_CONFIG', `storage = etcd needs the etcd3 module beside the helper (node_modules/etcd3; 'make install' puts it there): ${(e as Error).message}`, { cause: e });
  }
}

/** Members an operation is tried on, at most: a killed member costs one try, then another answers. */
const MAX_TRIES = 3;

/**
 * etcd3's `faultHandling.global` policy (cockatiel's interface, which etcd3 only `execute`s): try
 * again on the next member after an error etcd3 deems recoverable (a member down or restarting),
 * at most `tries` times. With the per-try deadline below, one operation takes at most timeoutMs.
 */
function triesPolicy(tries: number): NonNullable<NonNullable<IOptions['faultHandling']>['global']> {
  const { isRecoverableError } = etcd3();
  const policy = {
    async execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> {
      for (let i = 1; ; i++) {
        try {
          return await fn({ signal: new AbortController().signal });
        } catch (e) {
          if (i >= tries || !isRecoverableError(e as Error)) throw e;
        }
      }
    },
  };
  return policy as unknown as NonNullable<NonNullable<IOptions['faultHandling']>['global']>;
}

export function etcdOptions(c: EtcdConnection): IOptions {
  const { urls, tls } = parseEndpoints(c.endpoints);
  const tries = Math.min(urls.length, MAX_TRIES);
  const perTry = Math.max(200, Math.floor(c.timeoutMs / tries));
  const opts: IOptions = {
    hosts: urls,
    dialTimeout: perTry,
    // Every call has a deadline (streams, the watch and lease keep-alives, excepted).
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + perTry }),
    faultHandling: { global: triesPolicy(tries) },
  };
  if (tls) {
    if (!c.ca) throw new Krb5BridgeError('E_CONFIG', `etcd_endpoints ${c.endpoints} use https: set etcd_ca (the CA of the members' certificates)${c.cert ? '' : ', and etcd_cert and etcd_key if the members ask for client certificates'}`);
    if (!!c.cert !== !!c.key) throw new Krb5BridgeError('E_CONFIG', 'etcd_cert and etcd_key go together: set both (the client certificate and its key) or neither');
    opts.credentials = {
      rootCertificate: Buffer.from(readTrusted(c.ca, { what: 'etcd CA certificate (etcd_ca)', forbid: 0o022 })),
      ...(c.cert && c.key
        ? {
            certChain: Buffer.from(readTrusted(c.cert, { what: 'etcd client certificate (etcd_cert)', forbid: 0o022 })),
            privateKey: Buffer.from(readTrusted(c.key, { what: 'etcd client key (etcd_key)', forbid: 0o077, modeRemedy: 'chmod 0600 it (and consider the key exposed: issue a new one)' })),
          }
        : {}),
    };
  } else if (c.ca || c.cert || c.key) {
    throw new Krb5BridgeError('E_CONFIG', `etcd_ca/etcd_cert/etcd_key are set but etcd_endpoints ${c.endpoints} use http://: use https:// URLs for TLS`);
  }
  return opts;
}

/**
 * An etcd3 / gRPC error as a short cause a person can act on: no quorum and unreachable members
 * say so in words, with gRPC's own text after.
 */
export function etcdCause(e: unknown): string {
  const text = ((e as Error).message ?? String(e)).split('\n')[0]!.replace(/\s*Resolution note:.*$/, '').slice(0, 200);
  if (/DEADLINE_EXCEEDED|request timed out|etcdserver: (leader changed|no leader)/i.test(text)) return `no answer in time: the cluster has no quorum or no leader (${text})`;
  if (/UNAVAILABLE|ECONNREFUSED|EHOSTUNREACH|circuit breaker is open/i.test(text)) return `no member reachable (${text})`;
  return text;
}

export function connectEtcd(c: EtcdConnection): Etcd3 {
  return new (etcd3().Etcd3)(etcdOptions(c));
}
