/** spank/defaults.h is rendered from the helper's defaults: the plugin and the helper agree. */
import { DEFAULT_CONFIG_FILE, DEFAULT_NODE_STATE_DIR, defaultConfig } from '../../../helper/src/config/config';
import { configDefaultsAsCHeader } from '../../../helper/src/config/cheader';

/** The #define lines of a header, name -> literal. */
function defines(header: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const m of header.matchAll(/^#define (KB_DEFAULT_\w+) (.*)$/gm)) out[m[1] as string] = m[2] as string;
  return out;
}

describe('spank/defaults.h', () => {
  const header = configDefaultsAsCHeader();

  test('is a guarded header that says it is generated and from what', () => {
    expect(header.split('\n').slice(0, 3)).toEqual([
      '/* Generated from helper/src/config/config.ts by `krb5bridge config defaults --format c`; do not edit. */',
      '#ifndef KRB5BRIDGE_DEFAULTS_H',
      '#define KRB5BRIDGE_DEFAULTS_H',
    ]);
    expect(header.endsWith('\n#endif\n')).toBe(true);
  });

  test('defines exactly the shared settings, with the values of defaultConfig()', () => {
    const d = defaultConfig();
    expect(defines(header)).toEqual({
      KB_DEFAULT_CONFIG_FILE: JSON.stringify(DEFAULT_CONFIG_FILE),
      KB_DEFAULT_STORE: JSON.stringify(d.store),
      KB_DEFAULT_MUNGE_SOCKET: JSON.stringify(d.munge_socket ?? ''),
      KB_DEFAULT_CCACHE_DIR: JSON.stringify(d.ccache_dir),
      KB_DEFAULT_STATE_DIR: JSON.stringify(d.state_dir ?? DEFAULT_NODE_STATE_DIR),
      KB_DEFAULT_MARKER_DIR: JSON.stringify(d.marker_dir),
      KB_DEFAULT_KEEPER_SOCKET: JSON.stringify(d.keeper_socket),
      KB_DEFAULT_TIMEOUT: String(d.timeout),
    });
  });

  test('the values the docs promise (docs/internals.md)', () => {
    expect(defines(header)).toMatchObject({
      KB_DEFAULT_STORE: '"127.0.0.1:7386"',
      KB_DEFAULT_MUNGE_SOCKET: '""',
      KB_DEFAULT_STATE_DIR: '"/run/krb5bridge"',
      KB_DEFAULT_KEEPER_SOCKET: '"/run/krb5bridge/keeper.sock"',
      KB_DEFAULT_TIMEOUT: '10',
    });
  });
});
