/**
 * The gateway's client (krb5bridge submit, jobs, cancel, on a laptop): HTTPS only, the server
 * checked against the system's CAs or `ca` (a PEM file), every request bounded by the timeout.
 * It logs in with a password (asked on the terminal, or the first line of standard input) or
 * with SPNEGO (--negotiate: the laptop's Kerberos ticket, delegated), and keeps the session token
 * in `~/.cache/krb5bridge/gateway-token` (0600, with the gateway's URL) so the next command needs
 * no new login while the token lives. The password is sent once, to the gateway, and kept nowhere.
 */
import * as https from 'node:https';
import { mkdirSync, openSync, readFileSync, renameSync, writeSync, closeSync, unlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ERRORS, ErrorCode, Krb5BridgeError } from '../errors';

export interface GatewayOptions {
  url: string;
  /** PEM file of the CA that signed the gateway's certificate; default the system's CAs. */
  ca?: string | undefined;
  timeoutMs: number;
  /** Log in with SPNEGO (the default ccache's TGT, delegated) instead of a password. */
  negotiate: boolean;
  /** The user name for a password login. */
  user: string;
  /** Where the session token is kept; undefined = do not keep it. */
  tokenFile?: string | undefined;
  /** Reads the password (a terminal prompt, or standard input). */
  password: () => Promise<string>;
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

export function defaultTokenFile(): string {
  return join(homedir(), '.cache', 'krb5bridge', 'gateway-token');
}

export class GatewayClient {
  private readonly base: URL;
  private readonly ca: Buffer | undefined;
  private token: string | undefined;

  constructor(private readonly o: GatewayOptions) {
    let u: URL;
    try {
      u = new URL(o.url);
    } catch {
      throw new Krb5BridgeError('E_USAGE', `--gateway must be a URL like https://gateway.example.org:8443, got "${o.url}"`);
    }
    if (u.protocol !== 'https:') throw new Krb5BridgeError('E_USAGE', `the gateway is reached over HTTPS only, got "${o.url}"`);
    this.base = u;
    this.ca = o.ca ? readFileSync(o.ca) : undefined;
  }

  /** One HTTPS request; resolves with the status and the JSON body. */
  request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    const url = new URL(path, this.base);
    return new Promise((resolve, reject) => {
      const req = https.request(
        url,
        {
          method,
          ca: this.ca,
          timeout: this.o.timeoutMs,
          headers: { Accept: 'application/json', ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}), ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            try {
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
            } catch {
              reject(new Krb5BridgeError('E_PROTOCOL', `the gateway answered HTTP ${res.statusCode} without JSON: ${text.slice(0, 200)}`));
            }
          });
        },
      );
      req.on('timeout', () => {
        req.destroy();
        reject(new Krb5BridgeError('E_STORE_TIMEOUT', `the gateway ${this.base.origin} did not answer within ${this.o.timeoutMs / 1000} s`));
      });
      req.on('error', (e: NodeJS.ErrnoException) => reject(new Krb5BridgeError('E_STORE_UNREACHABLE', `cannot reach the gateway ${this.base.origin}: ${e.code ?? e.message}`)));
      req.end(payload);
    });
  }

  /** The gateway's error answer as a Krb5BridgeError with the gateway's code and words. */
  static failure(a: Answer): Krb5BridgeError {
    const code = typeof a.body.code === 'string' && Object.prototype.hasOwnProperty.call(ERRORS, a.body.code) ? (a.body.code as ErrorCode) : 'E_PROTOCOL';
    const message = typeof a.body.message === 'string' ? a.body.message : JSON.stringify(a.body).slice(0, 300);
    return new Krb5BridgeError(code, `the gateway answered HTTP ${a.status}: ${message}`);
  }

  async login(): Promise<string> {
    let a: Answer;
    if (this.o.negotiate) {
      // Loaded only here: the laptop's libgssapi_krb5 and its default ccache.
      const { initiateSpnego } = await import('../krb5/spnego');
      a = await this.request('POST', '/api/v1/login', undefined, { Authorization: `Negotiate ${initiateSpnego(this.base.hostname).toString('base64')}` });
    } else {
      const password = await this.o.password();
      a = await this.request('POST', '/api/v1/login', { username: this.o.user, password });
    }
    if (a.status !== 200 || typeof a.body.token !== 'string') throw GatewayClient.failure(a);
    this.token = a.body.token;
    this.keepToken(a.body.token, String(a.body.expires));
    return a.body.token;
  }

  /** A request with the session: the kept token if it still works, else a new login. */
  async call(method: string, path: string, body?: unknown): Promise<Answer> {
    this.token ??= this.keptToken();
    if (this.token) {
      const a = await this.request(method, path, body, { Authorization: `Bearer ${this.token}` });
      if (!(a.status === 401 && a.body.code === 'E_SESSION')) return a;
    }
    await this.login();
    return this.request(method, path, body, { Authorization: `Bearer ${this.token}` });
  }

  private keptToken(): string | undefined {
    if (!this.o.tokenFile) return undefined;
    try {
      const [url, token, expires] = readFileSync(this.o.tokenFile, 'utf8').split('\n');
      if (url === this.base.origin && token && Date.parse(expires ?? '') > Date.now() + 30_000) return token;
    } catch {
      // none kept yet
    }
    return undefined;
  }

  /** Written 0600 under a new name, then renamed: never readable by others, never half-written. */
  private keepToken(token: string, expires: string): void {
    const file = this.o.tokenFile;
    if (!file) return;
    const dir = join(file, '..');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      const fd = openSync(tmp, 'wx', 0o600);
      try {
        writeSync(fd, `${this.base.origin}\n${token}\n${expires}\n`);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, file);
    } catch {
      try {
        unlinkSync(tmp);
      } catch {
        // nothing was made
      }
    }
  }
}

/** The password: asked on the terminal without echo, or the first line of standard input. */
export async function readPassword(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of stdin) {
      chunks.push(c as Buffer);
      if (Buffer.concat(chunks).includes(0x0a)) break;
    }
    const line = Buffer.concat(chunks).toString('utf8').split('\n')[0]!.replace(/\r$/, '');
    if (!line) throw new Krb5BridgeError('E_USAGE', 'no password on standard input');
    return line;
  }
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let pw = '';
    const done = (e?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener('data', onData);
      process.stderr.write('\n');
      if (e) reject(e);
      else resolve(pw);
    };
    const onData = (d: Buffer): void => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new Krb5BridgeError('E_USAGE', 'interrupted'));
        if (ch === '\u007f' || ch === '\b') pw = pw.slice(0, -1);
        else pw += ch;
      }
    };
    stdin.on('data', onData);
  });
}
