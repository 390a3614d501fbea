import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseAddress, parseAddressList, parseConfigText } from '../../../helper/src/config/config';
import { Krb5BridgeError } from '../../../helper/src/errors';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return e instanceof Krb5BridgeError ? `${e.code}: ${e.message}` : `not ours: ${String(e)}`;
  }
  return 'no error';
}

describe('config file parsing', () => {
  test('reads keys, comments and blank lines', () => {
    const c = parseConfigText('# store\nstore = 10.0.0.1:7386  # inline\n\nmin_uid=2000\ntimeout = 2.5\nmunge_socket=/run/m/sock\n', 'f.conf');
    expect({ ...c }).toEqual({ store: '10.0.0.1:7386', min_uid: 2000, timeout: 2.5, munge_socket: '/run/m/sock' });
  });

  test('copies into an object without a prototype (no prototype poisoning)', () => {
    expect(codeOf(() => parseConfigText('__proto__ = 1\n', 'f.conf'))).toBe('E_CONFIG: invalid configuration; fix the file or flag named: f.conf:1: unknown key "__proto__"');
    expect(Object.getPrototypeOf(parseConfigText('timeout=1', 'f'))).toBeNull();
  });

  test.each([
    ['bogus = 1', 'f.conf:1: unknown key "bogus"'],
    ['\nstore', 'f.conf:2: expected "key = value", got "store"'],
    ['store = nohost', 'f.conf:1: expected HOST:PORT, got "nohost"'],
    ['store = h:70000', 'f.conf:1: expected HOST:PORT, got "h:70000"'],
    ['timeout = -1', 'f.conf:1: timeout must be a number of seconds between 0 and 3600, got "-1"'],
    ['timeout = 0', 'f.conf:1: timeout must be a number of seconds between 0 and 3600, got "0"'],
    ['min_uid = 12x', 'f.conf:1: min_uid must be a numeric uid, got "12x"'],
    ['state_dir = relative/dir', 'f.conf:1: state_dir must be an absolute path, got "relative/dir"'],
    ['store = a:1, b:2', 'f.conf:1: expected HOST:PORT or HOST:PORT,HOST:PORT,... without spaces, got "a:1, b:2"'],
    ['store = a:1,,b:2', 'f.conf:1: expected HOST:PORT or HOST:PORT,HOST:PORT,... without spaces, got "a:1,,b:2"'],
    ['store = a:1,b', 'f.conf:1: expected HOST:PORT, got "b"'],
    ['store = a:1,a:1', 'f.conf:1: a:1 is listed twice in "a:1,a:1"'],
    ['store = ' + Array.from({ length: 9 }, (_, i) => `s${i}:1`).join(','), 'f.conf:1: at most 8 stores, got 9 in "s0:1,s1:1,s2:1,s3:1,s4:1,s5:1,s6:1,s7:1,s8:1"'],
    ['listen = a:1,b:2', 'f.conf:1: expected HOST:PORT, got "a:1,b:2"'],
    ['keeper_auth = gssapi', 'f.conf:1: keeper_auth must be auto, munge or krb5, got "gssapi"'],
  ])('refuses %j with E_CONFIG naming file and line', (text, detail) => {
    expect(codeOf(() => parseConfigText(text, 'f.conf'))).toBe(`E_CONFIG: invalid configuration; fix the file or flag named: ${detail}`);
  });
});

describe('addresses', () => {
  test('host:port, IPv6 in brackets, port 0', () => {
    expect(parseAddress('store.example.org:7386')).toEqual({ host: 'store.example.org', port: 7386 });
    expect(parseAddress('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(parseAddress('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
  });

  test('store may list several stores (tried in turn by clients)', () => {
    expect(parseAddressList('s1.example:7386,10.0.0.2:7386,[::1]:7')).toEqual([
      { host: 's1.example', port: 7386 },
      { host: '10.0.0.2', port: 7386 },
      { host: '::1', port: 7 },
    ]);
    expect(parseConfigText('store = s1:1,s2:2\n', 'f').store).toBe('s1:1,s2:2');
  });
});

describe('loadConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'krb5bridge-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('defaults, then file, then flags', () => {
    const file = join(dir, 'a.conf');
    writeFileSync(file, 'store = 127.0.0.1:1\ntimeout = 4\n');
    const c = loadConfig(file, { store: '127.0.0.1:2' });
    expect(c.store).toBe('127.0.0.1:2');
    expect(c.timeout).toBe(4);
    expect(c.min_uid).toBe(1000);
  });

  test('a flag value is checked like a file value', () => {
    expect(codeOf(() => loadConfig(join(dir, "none-default"), {}))).toMatch(/^E_CONFIG: .*cannot open the config file .*none-default: it does not exist$/);
    const file = join(dir, 'b.conf');
    writeFileSync(file, '');
    expect(codeOf(() => loadConfig(file, { timeout: 'soon' }))).toBe(
      'E_CONFIG: invalid configuration; fix the file or flag named: --timeout: timeout must be a number of seconds between 0 and 3600, got "soon"',
    );
  });
});
