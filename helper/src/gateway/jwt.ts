/**
 * Slurm's JWT for one user (AuthAltTypes=auth/jwt): HS256 over {"alg":"HS256","typ":"JWT"} and the
 * claims {exp, iat, sun}, signed with Slurm's jwt_key. Minted per request, valid at most 60 s, so a
 * token that leaks is worth a minute; the gateway only mints, never verifies (slurmctld does).
 *
 * Why node:crypto and not a JWT library: one fixed algorithm and header, three claims, mint only:
 * a dozen lines of HMAC-SHA256 that a reader can check against RFC 7519, with no dependency that
 * parses untrusted tokens or negotiates algorithms (the classic JWT-library pitfalls).
 */
import { closeSync, readFileSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { Krb5BridgeError } from '../errors';
import { openTrusted } from '../util/trustedpath';

/** Longest life a minted token may have (seconds). */
export const MAX_JWT_SECONDS = 60;

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

/** Slurm's key file, through the one trusted-path check: root's, mode 0600 or stricter, one link. */
export function loadJwtKey(path: string): Buffer {
  const { fd, stat } = openTrusted(path, { what: 'Slurm JWT key (jwt_key)', type: 'file', forbid: 0o077, code: 'E_CONFIG', modeRemedy: `chmod 0600 ${path}` });
  try {
    if (stat.size < 16 || stat.size > 8192) {
      throw new Krb5BridgeError('E_CONFIG', `Slurm JWT key ${path} has ${stat.size} bytes; expected the key slurmctld uses (AuthAltParameters=jwt_key=, 32 random bytes or more)`);
    }
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface JwtClaims {
  exp: number;
  iat: number;
  sun: string;
}

/** A token for `user`, valid `seconds` (at most MAX_JWT_SECONDS) from `nowMs`. */
export function mintJwt(key: Buffer, user: string, seconds = 30, nowMs = Date.now()): string {
  if (!(seconds > 0 && seconds <= MAX_JWT_SECONDS)) throw new Krb5BridgeError('E_INTERNAL', `a JWT lives at most ${MAX_JWT_SECONDS} s, asked for ${seconds}`);
  const iat = Math.floor(nowMs / 1000);
  const claims: JwtClaims = { exp: iat + seconds, iat, sun: user };
  const body = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
}
