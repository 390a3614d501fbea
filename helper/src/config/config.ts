/**
 * Configuration: defaults, then the config file, then command-line flags (later wins).
 * The file is `key = value` lines with `#` comments; an unknown key or bad value is E_CONFIG
 * naming the file and line, never silently ignored.
 */
import { existsSync } from 'node:fs';
import { Krb5BridgeError } from '../errors';
import { readTrusted } from '../util/trustedpath';

export interface Config {
  /** Store address(es) for clients: HOST:PORT, or HOST:PORT,HOST:PORT,... (tried in turn). */
  store: string;
  /** Address the store listens on, HOST:PORT. */
  listen: string;
  /** munged socket; undefined = libmunge's default. */
  munge_socket: string | undefined;
  /** Bound on any network exchange, seconds. */
  timeout: number;
  /** Lowest uid whose credentials the store accepts. */
  min_uid: number;
  /** Store: where credentials persist. Node: where job records live. */
  state_dir: string | undefined;
  /** Where job ccaches are created on a compute node. */
  ccache_dir: string;
  /** Where the user's push marker lives on a login node. */
  marker_dir: string;
  /** The uid the store must prove (munge) before a client believes its answer. */
  store_uid: number;
  /** Compute node: the keeper's unix socket (its directory must be root's, 0700). */
  keeper_socket: string;
  /** Compute node: a site command run as the job's user after each materialise/refresh (e.g. aklog). */
  refresh_command: string | undefined;
  /** Compute node: this node's name in Slurm (squeue -w); undefined = the host name. */
  node_name: string | undefined;
  /** Store and keeper: renew/refresh a TGT this long before it expires (at most half its life). */
  renew_margin: number;
  /** How clients authenticate to the store: munge, or krb5 (AP-REQ/AP-REP, KRB-PRIV). */
  auth: 'munge' | 'krb5';
  /**
   * Compute node, the keeper's one kept connection to the store: krb5 with the host keytab
   * (client_keytab) where one exists (auto), or munge, or krb5.
   */
  keeper_auth: 'auto' | 'munge' | 'krb5';
  /** krb5: the store's service principal (clients: whom they authenticate to; store: what it accepts). */
  store_principal: string | undefined;
  /** krb5, store: the keytab of store_principal; set = the store also accepts krb5 clients. */
  keytab: string | undefined;
  /** krb5, node root (fetch): the host keytab. */
  client_keytab: string;
  /** krb5, node root (fetch): the principal in client_keytab; default host/<this host>. */
  client_principal: string | undefined;
  /** Store: the root-only key file for encryption at rest (created if missing). */
  key_file: string;
  /** Store: the access policy file (docs/security.md); undefined = the default policy. */
  acl: string | undefined;
  /** Store: append one JSON line per request here (0600 root); undefined = no audit log. */
  audit_log: string | undefined;
  /** Store: release a credential only to a node running a job of its user (default yes). */
  job_bound: 'yes' | 'no';
  /** Store: the slurm.conf libslurm reads for the job check; undefined = SLURM_CONF, else /etc/slurm/slurm.conf. */
  slurm_conf: string | undefined;
  /** Store: where the records live: dir (state_dir, one store) or etcd (several stores share them). */
  storage: 'dir' | 'etcd';
  /** Store, storage = etcd: the members' client URLs, http(s)://HOST:PORT,... */
  etcd_endpoints: string | undefined;
  /** storage = etcd over https: the CA that signed the members' certificates. */
  etcd_ca: string | undefined;
  /** storage = etcd over https: this store's client certificate and its key (0600 root). */
  etcd_cert: string | undefined;
  etcd_key: string | undefined;
  /** storage = etcd: the key prefix of this cluster's records, election and store registry. */
  etcd_prefix: string;
  /** storage = etcd: the TTL of the leases (the renewer's election, each store's registration). */
  etcd_lease_ttl: number;
  /** Store and keeper: give up one KDC renewal exchange after this long (a hung KDC). */
  kdc_timeout: number;
  /** Store and keeper: KDC renewal exchanges at once. */
  renew_concurrency: number;
  /** Store and keeper: KDC renewal exchanges started per second at most. */
  renew_rate: number;
  /** Daemons: log lines as text (default) or one JSON object each (util/log.ts). */
  log_format: 'text' | 'json';
  /** Store: serve Prometheus metrics on HOST:PORT (http://HOST:PORT/metrics); undefined = off. */
  metrics_listen: string | undefined;
  /** Keeper: serve Prometheus metrics on HOST:PORT; undefined = off. */
  keeper_metrics_listen: string | undefined;
  /** Gateway: serve Prometheus metrics on HOST:PORT; undefined = off. */
  gateway_metrics_listen: string | undefined;
  /** Gateway (docs/gateway.md): the HTTPS address, HOST:PORT. */
  gateway_listen: string;
  /** Gateway: TLS certificate chain and private key (PEM; the key root-only). Required. */
  gateway_cert: string | undefined;
  gateway_key: string | undefined;
  /** Gateway: its keytab (HTTP/<host>) for krb5_verify_init_creds and SPNEGO. */
  gateway_keytab: string;
  /** Gateway: its principal in gateway_keytab; default HTTP/<this host>. */
  gateway_principal: string | undefined;
  /** Gateway: audit log (login, logout, submit, cancel); none = off. */
  gateway_audit_log: string | undefined;
  /** Gateway: failed passwords per user (and per address) before a lockout. */
  gateway_lockout_failures: number;
  /** Gateway: the window those failures count in, and the lockout's length, seconds. */
  gateway_lockout_window: number;
  /** Gateway: login attempts per minute per address (and per user name). */
  gateway_login_rate: number;
  /** Gateway: requests per minute per address on every other route. */
  gateway_request_rate: number;
  /** Gateway: largest job script, bytes. */
  gateway_max_script: number;
  /** Gateway: renewable lifetime asked for at password login, seconds; undefined = krb5.conf's. */
  gateway_renew_lifetime: number | undefined;
  /** Gateway: slurmrestd (plain HTTP on the gateway host or a trusted network), HOST:PORT. */
  slurmrestd: string;
  /** Gateway: Slurm's HS256 JWT key (AuthAltParameters=jwt_key), root-only. */
  jwt_key: string;
}

export const DEFAULT_CONFIG_FILE = '/etc/krb5bridge/krb5bridge.conf';
export const DEFAULT_STORE_STATE_DIR = '/var/lib/krb5bridge';
export const DEFAULT_NODE_STATE_DIR = '/run/krb5bridge';
export const DEFAULT_KEEPER_SOCKET = '/run/krb5bridge/keeper.sock';

export function defaultConfig(): Config {
  return {
    store: '127.0.0.1:7386',
    listen: '127.0.0.1:7386',
    munge_socket: undefined,
    timeout: 10,
    min_uid: 1000,
    state_dir: undefined,
    ccache_dir: '/tmp',
    marker_dir: '/tmp',
    store_uid: 0,
    keeper_socket: DEFAULT_KEEPER_SOCKET,
    refresh_command: undefined,
    node_name: undefined,
    renew_margin: 600,
    auth: 'munge',
    keeper_auth: 'auto',
    store_principal: undefined,
    keytab: undefined,
    client_keytab: '/etc/krb5.keytab',
    client_principal: undefined,
    key_file: '/etc/krb5bridge/store.key',
    acl: undefined,
    audit_log: undefined,
    job_bound: 'yes',
    slurm_conf: undefined,
    storage: 'dir',
    etcd_endpoints: undefined,
    etcd_ca: undefined,
    etcd_cert: undefined,
    etcd_key: undefined,
    etcd_prefix: '/krb5bridge/',
    etcd_lease_ttl: 10,
    kdc_timeout: 10,
    renew_concurrency: 4,
    renew_rate: 20,
    log_format: 'text',
    metrics_listen: undefined,
    keeper_metrics_listen: undefined,
    gateway_metrics_listen: undefined,
    gateway_listen: '0.0.0.0:8443',
    gateway_cert: undefined,
    gateway_key: undefined,
    gateway_keytab: '/etc/krb5bridge/gateway.keytab',
    gateway_principal: undefined,
    gateway_audit_log: undefined,
    gateway_lockout_failures: 5,
    gateway_lockout_window: 300,
    gateway_login_rate: 30,
    gateway_request_rate: 600,
    gateway_max_script: 1048576,
    gateway_renew_lifetime: undefined,
    slurmrestd: '127.0.0.1:6820',
    jwt_key: '/etc/slurm/jwt_hs256.key',
  };
}

type Kind = 'address' | 'addresses' | 'path' | 'seconds' | 'uid' | 'name' | 'auth' | 'keeperauth' | 'storage' | 'urls' | 'prefix' | 'principal' | 'yesno' | 'count' | 'logformat' | 'bytes' | 'lifetime' | 'rate';
const KEYS: Record<keyof Config, Kind> = {
  store: 'addresses',
  listen: 'address',
  munge_socket: 'path',
  timeout: 'seconds',
  min_uid: 'uid',
  state_dir: 'path',
  ccache_dir: 'path',
  marker_dir: 'path',
  store_uid: 'uid',
  keeper_socket: 'path',
  refresh_command: 'path',
  node_name: 'name',
  renew_margin: 'seconds',
  auth: 'auth',
  keeper_auth: 'keeperauth',
  store_principal: 'principal',
  keytab: 'path',
  client_keytab: 'path',
  client_principal: 'principal',
  key_file: 'path',
  acl: 'path',
  audit_log: 'path',
  job_bound: 'yesno',
  slurm_conf: 'path',
  storage: 'storage',
  etcd_endpoints: 'urls',
  etcd_ca: 'path',
  etcd_cert: 'path',
  etcd_key: 'path',
  etcd_prefix: 'prefix',
  etcd_lease_ttl: 'seconds',
  kdc_timeout: 'seconds',
  renew_concurrency: 'count',
  renew_rate: 'count',
  log_format: 'logformat',
  metrics_listen: 'address',
  keeper_metrics_listen: 'address',
  gateway_metrics_listen: 'address',
  gateway_listen: 'address',
  gateway_cert: 'path',
  gateway_key: 'path',
  gateway_keytab: 'path',
  gateway_principal: 'principal',
  gateway_audit_log: 'path',
  gateway_lockout_failures: 'count',
  gateway_lockout_window: 'seconds',
  gateway_login_rate: 'rate',
  gateway_request_rate: 'rate',
  gateway_max_script: 'bytes',
  gateway_renew_lifetime: 'lifetime',
  slurmrestd: 'address',
  jwt_key: 'path',
};

/** Every config key, in the order of the Config interface (docs, man pages and `config check` list them so). */
export const CONFIG_KEYS = Object.keys(KEYS) as (keyof Config)[];

export function isConfigKey(key: string): key is keyof Config {
  return Object.prototype.hasOwnProperty.call(KEYS, key);
}

/** Parse one value; `where` names the file and line (or flag) for the error message. */
export function parseValue(key: keyof Config, raw: string, where: string): string | number {
  const value = raw.trim();
  switch (KEYS[key]) {
    case 'address':
      parseAddress(value, where);
      return value;
    case 'addresses':
      parseAddressList(value, where);
      return value;
    case 'path':
      if (!value.startsWith('/')) throw new Krb5BridgeError('E_CONFIG', `${where}: ${key} must be an absolute path, got "${value}"`);
      return value;
    case 'seconds': {
      const n = Number(value);
      if (!/^\d+(\.\d+)?$/.test(value) || !(n > 0) || n > 3600) {
        throw new Krb5BridgeError('E_CONFIG', `${where}: ${key} must be a number of seconds between 0 and 3600, got "${value}"`);
      }
      return n;
    }
    case 'auth':
      if (value !== 'munge' && value !== 'krb5') throw new Krb5BridgeError('E_CONFIG', `${where}: ${key} must be munge or krb5, got "${value}"`);
      return value;
    case 'logformat':
      if (value !== 'text' && value !== 'json') throw new Krb5BridgeError('E_CONFIG', `${where}: ${key} must be text or json, got "${value}"`);
      return value;
    case 'keeperauth':
      if (value !== 'auto' && value !== 'munge' && value !== 'krb5') throw new Krb5BridgeError('E_CONFIG', `${where}: ${key} must be auto, munge or krb5, got "${value}"`);
      return value;
    case 'storage':
      if (value !== 'dir' && value !== 'etcd') throw new Krb5BridgeError('E_CONFIG', `${where}: ${key} must be dir or etcd, got "${value}"`);
      return value;
    case 'urls':
      parseEndpoints(value, where);
      return value;
    case 'prefix':
      if (!/^\/([A-Za-z0-9._-]+\/)*$/.test(value) || value.length > 200) {
        throw new Krb5BridgeError('E_CONFIG', `${where}: ${key} must be a key prefix like /krb5bridge/ or /site/krb5bridge/ (letters, digits, . _ -, ending in /), got "${value}"`);
      }
      return value;
    case 'yesno':
      if (value !== 'yes' && value !== 'no') throw new Krb5BridgeError('E_CONFIG', `${where}: ${key} must be yes or no, got "${value}"`);
      return value;
    case 'principal':
      // name[/instance][@REALM]; no spaces or control characters (it reaches logs).
      if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)?(@[A-Za-z0-9._-]+)?$/.test(value)) {
        throw new Krb5BridgeError('E_CONFIG', `${where}: ${key} must be a principal like krb5bridge/host.example.org@EXAMPLE.ORG, got "${value}"`);
      }
      return value;
    case 'name':
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(value)) throw new Krb5BridgeError('E_CONFIG', `${where}: ${key} must be a host name, got "${value}"`);
      return value;
    case 'count':
      if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 10000) {
        throw new Krb5BridgeError('E_CONFIG', `${where}: ${key} must be a whole number from 1 to 10000, got "${value}"`);
      }
      return Number(value);
    case 'rate':
      if (!/^\d{1,7}$/.test(value) || Number(value) < 1 || Number(value) > 1000000) {
        throw new Krb5BridgeError('E_CONFIG', `${where}: ${key} must be a number of requests per minute from 1 to 1000000, got "${value}"`);
      }
      return Number(value);
    case 'bytes':
      if (!/^\d{1,9}$/.test(value) || Number(value) < 1024 || Number(value) > 64 * 1024 * 1024) {
        throw new Krb5BridgeError('E_CONFIG', `${where}: ${key} must be a number of bytes from 1024 to 67108864, got "${value}"`);
      }
      return Number(value);
    case 'lifetime':
      if (!/^\d{1,8}$/.test(value) || Number(value) < 60 || Number(value) > 366 * 86400) {
        throw new Krb5BridgeError('E_CONFIG', `${where}: ${key} must be a number of seconds from 60 to 31622400, got "${value}"`);
      }
      return Number(value);
    case 'uid': {
      if (!/^\d{1,10}$/.test(value) || Number(value) > 4294967294) {
        throw new Krb5BridgeError('E_CONFIG', `${where}: ${key} must be a numeric uid, got "${value}"`);
      }
      return Number(value);
    }
  }
}

export interface Address {
  host: string;
  port: number;
}

/** HOST:PORT or [IPv6]:PORT; port 0 is allowed (listen on any free port). */
export function parseAddress(value: string, where = 'address'): Address {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new Krb5BridgeError('E_CONFIG', `${where}: expected HOST:PORT, got "${value}"`);
  }
  return { host: (m[1] ?? m[2]) as string, port };
}

/** Most stores a client tries in turn (each gets its share of the timeout). */
export const MAX_STORES = 8;

/**
 * `store`: HOST:PORT, or several separated by commas without spaces (the C plugin copies the value
 * into the push marker's one-word field, so it must be one word), each its own address.
 */
export function parseAddressList(value: string, where = 'store'): Address[] {
  const parts = value.split(',');
  if (parts.length > MAX_STORES) throw new Krb5BridgeError('E_CONFIG', `${where}: at most ${MAX_STORES} stores, got ${parts.length} in "${value}"`);
  const seen = new Set<string>();
  return parts.map((p) => {
    if (p !== p.trim() || p === '') throw new Krb5BridgeError('E_CONFIG', `${where}: expected HOST:PORT or HOST:PORT,HOST:PORT,... without spaces, got "${value}"`);
    if (seen.has(p)) throw new Krb5BridgeError('E_CONFIG', `${where}: ${p} is listed twice in "${value}"`);
    seen.add(p);
    return parseAddress(p, where);
  });
}

/** etcd_endpoints: http(s)://HOST:PORT, comma-separated, all of one scheme (TLS for all or none). */
export function parseEndpoints(value: string, where = 'etcd_endpoints'): { urls: string[]; tls: boolean } {
  const urls = value.split(',');
  const schemes = new Set<string>();
  for (const u of urls) {
    const m = /^(https?):\/\/((?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5})$/.exec(u);
    if (!m) throw new Krb5BridgeError('E_CONFIG', `${where}: expected http(s)://HOST:PORT, comma-separated without spaces, got "${u}"`);
    parseAddress(m[2]!, where);
    schemes.add(m[1]!);
  }
  if (schemes.size > 1) throw new Krb5BridgeError('E_CONFIG', `${where}: mixes http:// and https:// ("${value}"); use TLS for every member or none`);
  return { urls, tls: schemes.has('https') };
}

/** Where each value came from: `default`, `FILE:LINE`, or the flag (`--store`). */
export type ConfigOrigins = Record<keyof Config, string>;

/** Parse config file text; `origins` (if given) learns the FILE:LINE of each key set. */
export function parseConfigText(text: string, file: string, origins?: Partial<ConfigOrigins>): Partial<Config> {
  const out: Partial<Config> = Object.create(null);
  text.split('\n').forEach((line, i) => {
    const where = `${file}:${i + 1}`;
    const stripped = line.replace(/#.*$/, '').trim();
    if (stripped === '') return;
    const eq = stripped.indexOf('=');
    if (eq < 0) throw new Krb5BridgeError('E_CONFIG', `${where}: expected "key = value", got "${stripped}"`);
    const key = stripped.slice(0, eq).trim();
    if (!isConfigKey(key)) throw new Krb5BridgeError('E_CONFIG', `${where}: unknown key "${key}"`);
    (out as Record<string, unknown>)[key] = parseValue(key, stripped.slice(eq + 1), where);
    if (origins) origins[key] = where;
  });
  return out;
}

/**
 * Load the configuration. A missing default file is fine (defaults apply); a missing file named
 * explicitly is an error.
 */
export function loadConfig(file: string | undefined, overrides: Partial<Record<keyof Config, string | number | undefined>>): Config {
  return resolveConfig(file, overrides).config;
}

/** loadConfig, and where each value came from (`krb5bridge config check`). */
export function resolveConfig(
  file: string | undefined,
  overrides: Partial<Record<keyof Config, string | number | undefined>>,
): { config: Config; origins: ConfigOrigins; file: string; read: boolean } {
  const config = defaultConfig();
  const origins = Object.fromEntries(CONFIG_KEYS.map((k) => [k, 'default'])) as ConfigOrigins;
  // KRB5BRIDGE_CONFIG is for people at a shell; the plugin always passes --config and a clean env.
  const explicit = file ?? (process.env.KRB5BRIDGE_CONFIG || undefined);
  const path = explicit ?? DEFAULT_CONFIG_FILE;
  // Whoever can write the file decides where tickets go: it is read through the trusted-path check
  // (root's or the caller's own, not writable by group or others, in directories nobody else can write).
  const read = explicit !== undefined || existsSync(path);
  if (read) {
    Object.assign(config, parseConfigText(readTrusted(path, { what: 'config file', forbid: 0o022, code: 'E_CONFIG' }), path, origins));
  }
  for (const [key, raw] of Object.entries(overrides)) {
    if (raw === undefined || !isConfigKey(key)) continue;
    const flag = `--${key.replace(/_/g, '-')}`;
    (config as unknown as Record<string, unknown>)[key] = parseValue(key, String(raw), flag);
    origins[key] = flag;
  }
  return { config, origins, file: path, read };
}
