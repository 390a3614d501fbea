/**
 * Laptop clients of the test cluster's HTTPS gateway (`up --gateway`): curl and Python requests
 * (Debian's python3-requests), run as real processes against the real gateway, with the cluster's
 * CA. What they answer is parsed for exact assertions: status, JSON body, headers.
 */
import { spawnSync } from 'node:child_process';
import { Dirent, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster, GatewayInfo } from './cluster';

export interface HttpAnswer {
  status: number;
  body: Record<string, unknown>;
  /** Lower-case header name -> value. */
  headers: Record<string, string>;
  /** How long the request took (ms), as curl measured it. */
  ms: number;
}

export function gatewayOf(c: Cluster): GatewayInfo {
  if (!c.gateway) throw new Error('the cluster was brought up without --gateway');
  return c.gateway;
}

/**
 * curl against the gateway: METHOD PATH, an optional JSON body (object, or a raw string sent as
 * is) and extra curl arguments (--negotiate, -H ...). env: e.g. KRB5CCNAME for SPNEGO.
 */
export function curl(c: Cluster, method: string, path: string, opts: { body?: unknown; token?: string; args?: string[]; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): HttpAnswer {
  const g = gatewayOf(c);
  const dir = mkdtempSync('/tmp/krb5bridge-curl-');
  try {
    const headerFile = join(dir, 'headers');
    const args = ['-sS', '--cacert', g.ca, '-X', method, '-D', headerFile, '-w', '\n%{http_code} %{time_total}', '--max-time', '60'];
    if (opts.token !== undefined) args.push('-H', `Authorization: Bearer ${opts.token}`);
    if (opts.body !== undefined) {
      const bodyFile = join(dir, 'body');
      writeFileSync(bodyFile, typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
      args.push('-H', 'Content-Type: application/json', '--data-binary', `@${bodyFile}`);
    }
    args.push(...(opts.args ?? []), `${g.url}${path}`);
    const r = spawnSync('curl', args, { encoding: 'utf8', env: { ...process.env, ...c.env, ...opts.env }, timeout: opts.timeoutMs ?? 90_000, maxBuffer: 64 * 1024 * 1024 });
    if (r.status !== 0) throw new Error(`curl ${method} ${path} exited ${r.status}: ${r.stderr}`);
    const nl = r.stdout.lastIndexOf('\n');
    const [status, total] = r.stdout.slice(nl + 1).split(' ');
    const text = r.stdout.slice(0, nl);
    const headers: Record<string, string> = {};
    // With --negotiate curl makes two requests: the last block of headers is the answer's.
    const blocks = readFileSync(headerFile, 'utf8').split(/\r?\n\r?\n/).filter((b) => b.trim());
    for (const line of (blocks[blocks.length - 1] ?? '').split(/\r?\n/).slice(1)) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new Error(`curl ${method} ${path}: HTTP ${status}, not JSON: ${text.slice(0, 500)}`);
    }
    return { status: Number(status), body, headers, ms: Number(total) * 1000 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A password login with curl; returns the token (throws unless 200). */
export function login(c: Cluster, username: string, password: string): string {
  const a = curl(c, 'POST', '/api/v1/login', { body: { username, password } });
  if (a.status !== 200) throw new Error(`login of ${username}: HTTP ${a.status} ${JSON.stringify(a.body)}`);
  return a.body.token as string;
}

/** scripts/gateway-example.py as a laptop would run it: Debian's /usr/bin/python3 with python3-requests, the password on stdin. */
export function pythonExample(c: Cluster, user: string, password: string, script: string, env: string[], extraEnv: NodeJS.ProcessEnv = {}): { code: number; stdout: string; stderr: string } {
  const g = gatewayOf(c);
  const r = spawnSync('/usr/bin/python3', [join(__dirname, '..', '..', 'scripts', 'gateway-example.py'), user, script, ...env], {
    encoding: 'utf8',
    input: `${password}\n`,
    env: { PATH: '/usr/bin:/bin', KRB5BRIDGE_GATEWAY_URL: g.url, KRB5BRIDGE_GATEWAY_CA: g.ca, ...extraEnv },
    timeout: 120_000,
  });
  return { code: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Every regular file under `dir` (recursively), skipping what cannot be read. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/**
 * The files that must never hold a password: every log of the cluster (the gateway's, its audit
 * log, the store's, the KDC's, slurmctld's and slurmd's), the store's state, slurmctld's state
 * directory (it keeps each job's environment and script), and the extra files named (a job's
 * environment dump). Returns "file: secret" for each hit.
 */
export function secretsFound(c: Cluster, secrets: string[], extra: string[] = []): string[] {
  const files = [...filesUnder(join(c.dir, 'log')), ...filesUnder(c.storeState), ...filesUnder(join(c.dir, 'slurm', 'state')), ...extra];
  const hits: string[] = [];
  for (const f of files) {
    const bytes = readFileSync(f);
    for (const s of secrets) {
      for (const form of [s, Buffer.from(s).toString('base64'), encodeURIComponent(s), JSON.stringify(s).slice(1, -1)]) {
        if (bytes.includes(Buffer.from(form))) hits.push(`${f}: ${form}`);
      }
    }
  }
  return hits;
}

/**
 * Does `text` hold any piece of `ticket` (a ccache's bytes): 16-byte windows of it raw, as hex,
 * or in base64 at every alignment? Returns the first hit.
 */
export function ticketBytesIn(text: Buffer, ticket: Buffer): string | undefined {
  const hay = text.toString('latin1');
  for (let i = 64; i + 16 <= ticket.length; i += 8) {
    const w = ticket.subarray(i, i + 16);
    if (text.includes(w)) return `raw bytes at ${i}`;
    if (hay.includes(w.toString('hex'))) return `hex of bytes at ${i}`;
    for (let a = 0; a < 3; a++) {
      const b64 = ticket.subarray(i + a, i + a + 15).toString('base64');
      if (hay.includes(b64)) return `base64 of bytes at ${i + a}`;
    }
  }
  return undefined;
}
