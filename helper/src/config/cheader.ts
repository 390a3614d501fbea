/**
 * The plugin's defaults come from here: `krb5bridge config defaults --format c` renders
 * spank/defaults.h (the build does it, as it makes spank/errors.h from the error registry), so the
 * plugin's fast checks look where the helper writes and both fall back to the same settings.
 */
import { DEFAULT_CONFIG_FILE, DEFAULT_NODE_STATE_DIR, defaultConfig } from './config';

/**
 * The helper's defaults for the settings the plugin shares with it, by the plugin's name
 * (KB_DEFAULT_<name>): "" = not set (munge_socket: libmunge's default). state_dir is the compute
 * node's, where the plugin looks for job records.
 */
export function pluginDefaults(): Record<string, string | number> {
  const d = defaultConfig();
  return {
    CONFIG_FILE: DEFAULT_CONFIG_FILE,
    STORE: d.store,
    MUNGE_SOCKET: d.munge_socket ?? '',
    CCACHE_DIR: d.ccache_dir,
    STATE_DIR: d.state_dir ?? DEFAULT_NODE_STATE_DIR,
    MARKER_DIR: d.marker_dir,
    KEEPER_SOCKET: d.keeper_socket,
    TIMEOUT: d.timeout,
  };
}

/** A C literal: a string of printable ASCII without quotes or backslashes, or an int. */
function cLiteral(name: string, value: string | number): string {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > 2147483647) throw new Error(`${name}: ${value} is not a C int`);
    return String(value);
  }
  if (!/^[\x20-\x7e]*$/.test(value) || /["\\]/.test(value)) throw new Error(`${name}: "${value}" needs escaping in C`);
  return `"${value}"`;
}

/** spank/defaults.h. */
export function configDefaultsAsCHeader(): string {
  const lines = [
    '/* Generated from helper/src/config/config.ts by `krb5bridge config defaults --format c`; do not edit. */',
    '#ifndef KRB5BRIDGE_DEFAULTS_H',
    '#define KRB5BRIDGE_DEFAULTS_H',
    '',
    '/* The helper\'s defaults for the settings the plugin shares with it ("" = not set). */',
  ];
  for (const [name, value] of Object.entries(pluginDefaults())) lines.push(`#define KB_DEFAULT_${name} ${cLiteral(name, value)}`);
  lines.push('', '#endif', '');
  return lines.join('\n');
}
