/**
 * The slurmrestd client (Slurm 22.05, openapi/v0.0.38, rest_auth/jwt): plain HTTP to slurmrestd
 * (on the gateway host or a trusted network), one keep-alive agent, every call bounded by the
 * timeout, each request authenticated as the user with a JWT the gateway mints for it
 * (X-SLURM-USER-NAME, X-SLURM-USER-TOKEN). slurmrestd's answers are turned into what happened:
 * its bare "Unspecified error" (a token slurmctld refused), Slurm's own error codes (a bad
 * partition: the user's to fix), an unknown job, or slurmrestd unreachable / not answering.
 */
import * as http from 'node:http';
import { Krb5BridgeError } from '../errors';
import { parseAddress } from '../config/config';

export const API = '/slurm/v0.0.38';

/** Largest answer read (a big cluster's job list); beyond it the answer is refused. */
const MAX_ANSWER = 64 * 1024 * 1024;

/** Slurm's error numbers the gateway tells apart (slurm_errno.h). */
const ESLURM_INVALID_JOB_ID = 2017;
const ESLURM_ALREADY_DONE = 2021;

export interface SlurmError {
  error?: string;
  description?: string;
  error_number?: number;
  error_code?: number;
}

export interface SlurmAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** The user a call is for, and the JWT minted for them. */
export interface AsUser {
  user: string;
  token: string;
}

function errorsOf(body: Record<string, unknown>): SlurmError[] {
  return Array.isArray(body.errors) ? (body.errors as SlurmError[]).filter((e) => e && typeof e === 'object') : [];
}

function words(e: SlurmError): string {
  const parts = [e.error, e.description].filter((s): s is string => typeof s === 'string' && s.length > 0);
  return [...new Set(parts)].join(': ').slice(0, 500);
}

export class SlurmRestd {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly host: string;
  private readonly port: number;

  constructor(
    readonly address: string,
    private readonly timeoutMs: number,
  ) {
    const a = parseAddress(address, 'slurmrestd');
    this.host = a.host;
    this.port = a.port;
  }

  /** One request; resolves with slurmrestd's status and JSON body, or throws E_SLURMRESTD. */
  request(method: string, path: string, as: AsUser, body?: unknown): Promise<SlurmAnswer> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: this.host,
          port: this.port,
          method,
          path: `${API}${path}`,
          agent: this.agent,
          timeout: this.timeoutMs,
          headers: {
            'X-SLURM-USER-NAME': as.user,
            'X-SLURM-USER-TOKEN': as.token,
            Accept: 'application/json',
            ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_ANSWER) {
              req.destroy();
              reject(new Krb5BridgeError('E_SLURMRESTD', `slurmrestd at ${this.address} sent more than ${MAX_ANSWER} bytes for ${method} ${path}`));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status === 401 || status === 403) {
              reject(new Krb5BridgeError('E_SLURMRESTD', `slurmrestd at ${this.address} refused the gateway's token (HTTP ${status}: ${text.trim().slice(0, 200)}); is slurmrestd run with -a rest_auth/jwt?`));
              return;
            }
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch {
              reject(new Krb5BridgeError('E_SLURMRESTD', `slurmrestd at ${this.address} answered ${method} ${path} with HTTP ${status} and no JSON: ${text.trim().slice(0, 200)}`));
              return;
            }
            if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
              reject(new Krb5BridgeError('E_SLURMRESTD', `slurmrestd at ${this.address} answered ${method} ${path} with JSON that is not an object`));
              return;
            }
            resolve({ status, body: parsed as Record<string, unknown> });
          });
          res.on('error', (e) => reject(new Krb5BridgeError('E_SLURMRESTD', `reading the answer of slurmrestd at ${this.address}: ${e.message}`)));
        },
      );
      req.on('timeout', () => {
        req.destroy();
        reject(new Krb5BridgeError('E_SLURMRESTD', `slurmrestd at ${this.address} did not answer ${method} ${path} within ${this.timeoutMs / 1000} s`));
      });
      req.on('error', (e: NodeJS.ErrnoException) => reject(new Krb5BridgeError('E_SLURMRESTD', `cannot reach slurmrestd at ${this.address}: ${e.code ?? e.message}`)));
      req.end(payload);
    });
  }

  /**
   * Throw what a failed answer means: an unknown job is E_NO_SUCH_JOB; "Unspecified error" (how
   * slurmrestd reports a token slurmctld refused: wrong key, clock skew, no auth/jwt) is
   * E_SLURMRESTD; any other Slurm error is the user's request (E_SLURM_REFUSED, Slurm's words).
   */
  static check(a: SlurmAnswer, what: string): void {
    const errors = errorsOf(a.body);
    if (errors.length === 0 && a.status >= 200 && a.status < 300) return;
    const numbers = errors.map((e) => e.error_number ?? e.error_code);
    if (numbers.includes(ESLURM_INVALID_JOB_ID)) throw new Krb5BridgeError('E_NO_SUCH_JOB', `${what}: Slurm knows no such job`);
    if (numbers.includes(ESLURM_ALREADY_DONE)) throw new Krb5BridgeError('E_SLURM_REFUSED', `${what}: the job has already finished`);
    const refusedToken = errors.length === 0 || errors.some((e) => e.error === 'Unspecified error' || (e.error_number ?? e.error_code) === -1);
    if (refusedToken) {
      throw new Krb5BridgeError(
        'E_SLURMRESTD',
        `${what}: slurmrestd answered HTTP ${a.status} "Unspecified error": slurmctld refused the gateway's token (jwt_key differs from slurmctld's AuthAltParameters, AuthAltTypes=auth/jwt missing, or the clocks differ); see slurmctld's log`,
      );
    }
    throw new Krb5BridgeError('E_SLURM_REFUSED', `${what}: ${errors.map(words).join('; ')}`);
  }

  close(): void {
    this.agent.destroy();
  }
}
