/**
 * The gateway's TLS certificate chain and private key (gateway_cert, gateway_key), read through
 * the one trusted-path check: the certificate root's and not writable by others, the key root's
 * alone. The server (server.ts) and `krb5bridge doctor --role gateway` read them here alike.
 */
import { readTrusted } from '../util/trustedpath';

export function readTlsCert(path: string): string {
  return readTrusted(path, { what: 'gateway TLS certificate', forbid: 0o022, code: 'E_CONFIG', modeRemedy: `chmod go-w ${path}` });
}

export function readTlsKey(path: string): string {
  return readTrusted(path, { what: 'gateway TLS key', forbid: 0o077, code: 'E_CONFIG', modeRemedy: `chmod 0600 ${path}` });
}
