/** Options every verb takes, and turning parsed arguments into a Config. */
import type { Argv } from 'yargs';
import { Config, ConfigOrigins, resolveConfig } from '../config/config';
import { setLogFormat } from '../util/log';

export interface GlobalArgs {
  config?: string;
  store?: string;
  'munge-socket'?: string;
  timeout?: number;
  verbose?: boolean;
  json?: boolean;
}

export function globalOptions<T>(y: Argv<T>): Argv<T & GlobalArgs> {
  return y
    .option('config', { type: 'string', describe: 'config file (default /etc/krb5bridge/krb5bridge.conf)', global: true })
    .option('store', { type: 'string', describe: 'store address HOST:PORT', global: true })
    .option('munge-socket', { type: 'string', describe: 'munged socket path', global: true })
    .option('timeout', { type: 'number', describe: 'bound on any network exchange, seconds', global: true })
    .option('verbose', { type: 'boolean', describe: 'trace each step on stderr', global: true })
    .option('json', { type: 'boolean', describe: 'machine-readable output', global: true }) as Argv<T & GlobalArgs>;
}

/** The Config for a verb: defaults < config file < global flags < the verb's own overrides. */
export function configFrom(args: GlobalArgs, extra: Partial<Record<keyof Config, string | number | undefined>> = {}): Config {
  return configWithOrigins(args, extra).config;
}

/** configFrom, and where each value came from (default, FILE:LINE, --flag); sets the log format. */
export function configWithOrigins(
  args: GlobalArgs,
  extra: Partial<Record<keyof Config, string | number | undefined>> = {},
): { config: Config; origins: ConfigOrigins; file: string; read: boolean } {
  const r = resolveConfig(args.config, {
    store: args.store,
    munge_socket: args['munge-socket'],
    timeout: args.timeout,
    ...extra,
  });
  setLogFormat(r.config.log_format);
  return r;
}

/** Options of the laptop verbs (submit, jobs, cancel), which talk to the HTTPS gateway. */
export interface GatewayArgs extends GlobalArgs {
  gateway?: string;
  ca?: string;
  negotiate?: boolean;
  user?: string;
  'token-file'?: string;
}

export function gatewayOptions<T>(y: Argv<T>): Argv<T & GatewayArgs> {
  return y
    .option('gateway', { type: 'string', describe: 'the gateway URL, https://HOST:PORT (default: KRB5BRIDGE_GATEWAY_URL)' })
    .option('ca', { type: 'string', describe: "PEM file of the CA of the gateway's certificate (default: KRB5BRIDGE_GATEWAY_CA, else the system's CAs)" })
    .option('negotiate', { type: 'boolean', describe: 'log in with your Kerberos ticket (SPNEGO, delegated; kinit -f first) instead of a password' })
    .option('user', { type: 'string', describe: 'user name for a password login (default: $USER)' })
    .option('token-file', { type: 'string', describe: 'where the session token is kept (default ~/.cache/krb5bridge/gateway-token)' }) as Argv<T & GatewayArgs>;
}
