/**
 * How a store connects to etcd (helper/src/records/etcd/connect.ts), without connecting: the
 * members' URLs, and the TLS files read through the trusted-path check (the client key root's and
 * 0600, the certificates nobody else can change), each refusal with its exact message.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEndpoints } from '../../../helper/src/config/config';
import { etcdCause, etcdOptions } from '../../../helper/src/records/etcd/connect';

let dir: string;
const file = (name: string, mode: number): string => {
  const p = join(dir, name);
  writeFileSync(p, `-----BEGIN ${name}-----\n`);
  chmodSync(p, mode);
  return p;
};
const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return `${(e as { code: string }).code}: ${(e as Error).message}`;
  }
  return 'no error';
};

beforeEach(() => {
  dir = mkdtempSync('/tmp/krb5bridge-etcdconn-');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('endpoints: http(s)://HOST:PORT, comma-separated, one scheme for all', () => {
  expect(parseEndpoints('http://10.0.0.1:2379,http://etcd2.example:2379')).toEqual({ urls: ['http://10.0.0.1:2379', 'http://etcd2.example:2379'], tls: false });
  expect(parseEndpoints('https://[::1]:2379').tls).toBe(true);
  expect(codeOf(() => parseEndpoints('10.0.0.1:2379'))).toBe('E_CONFIG: invalid configuration; fix the file or flag named: etcd_endpoints: expected http(s)://HOST:PORT, comma-separated without spaces, got "10.0.0.1:2379"');
  expect(codeOf(() => parseEndpoints('http://a:1,https://b:2'))).toBe('E_CONFIG: invalid configuration; fix the file or flag named: etcd_endpoints: mixes http:// and https:// ("http://a:1,https://b:2"); use TLS for every member or none');
});

test('plain http: no credentials, and TLS files with http are refused', () => {
  expect(etcdOptions({ endpoints: 'http://127.0.0.1:2379', timeoutMs: 1000 }).credentials).toBeUndefined();
  expect(codeOf(() => etcdOptions({ endpoints: 'http://127.0.0.1:2379', ca: file('CA', 0o644), timeoutMs: 1000 }))).toBe(
    'E_CONFIG: invalid configuration; fix the file or flag named: etcd_ca/etcd_cert/etcd_key are set but etcd_endpoints http://127.0.0.1:2379 use http://: use https:// URLs for TLS',
  );
});

test('https: the CA is required; the certificate and key go together', () => {
  expect(codeOf(() => etcdOptions({ endpoints: 'https://127.0.0.1:2379', timeoutMs: 1000 }))).toBe(
    "E_CONFIG: invalid configuration; fix the file or flag named: etcd_endpoints https://127.0.0.1:2379 use https: set etcd_ca (the CA of the members' certificates), and etcd_cert and etcd_key if the members ask for client certificates",
  );
  expect(codeOf(() => etcdOptions({ endpoints: 'https://127.0.0.1:2379', ca: file('CA', 0o644), cert: file('CERT', 0o644), timeoutMs: 1000 }))).toBe(
    'E_CONFIG: invalid configuration; fix the file or flag named: etcd_cert and etcd_key go together: set both (the client certificate and its key) or neither',
  );
});

test('https with a client certificate: every file read, the key only if it is 0600 root', () => {
  const ok = etcdOptions({ endpoints: 'https://127.0.0.1:2379', ca: file('CA', 0o644), cert: file('CERT', 0o644), key: file('KEY', 0o600), timeoutMs: 1000 });
  expect(ok.credentials?.rootCertificate.toString()).toBe('-----BEGIN CA-----\n');
  expect(ok.credentials?.certChain?.toString()).toBe('-----BEGIN CERT-----\n');
  expect(ok.credentials?.privateKey?.toString()).toBe('-----BEGIN KEY-----\n');
  const key = file('KEY2', 0o644);
  expect(codeOf(() => etcdOptions({ endpoints: 'https://127.0.0.1:2379', ca: file('CA2', 0o644), cert: file('CERT2', 0o644), key, timeoutMs: 1000 }))).toMatch(
    new RegExp(`^E_UNSAFE_PATH: refusing an unsafe path: etcd client key \\(etcd_key\\) ${key.replace(/[.]/g, '\\.')} .*0644.*chmod 0600 it \\(and consider the key exposed: issue a new one\\)`),
  );
});

test('a CA others can change is refused', () => {
  const ca = file('CA3', 0o664);
  expect(codeOf(() => etcdOptions({ endpoints: 'https://127.0.0.1:2379', ca, timeoutMs: 1000 }))).toMatch(new RegExp(`^E_UNSAFE_PATH: refusing an unsafe path: etcd CA certificate \\(etcd_ca\\) ${ca.replace(/[.]/g, '\\.')} .*0664`));
});

test('etcd errors become causes a person can act on', () => {
  expect(etcdCause(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded after 0.416s'))).toBe('no answer in time: the cluster has no quorum or no leader (4 DEADLINE_EXCEEDED: Deadline exceeded after 0.416s)');
  expect(etcdCause(new Error('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: x'))).toBe(
    'no member reachable (14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1.)',
  );
  expect(etcdCause(new Error('etcdserver: mvcc: database space exceeded'))).toBe('etcdserver: mvcc: database space exceeded');
});
