import { createHmac } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_JWT_SECONDS, loadJwtKey, mintJwt } from '../../../helper/src/gateway/jwt';

const key = Buffer.from('0123456789abcdef0123456789abcdef');
const decode = (part: string): unknown => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

describe('Slurm JWT minting', () => {
  test('HS256 with the claims slurmctld reads (sun, exp) and iat; exp at most 60 s ahead', () => {
    const now = Date.UTC(2026, 11, 1, 12, 0, 0);
    const t = mintJwt(key, 'alice', 30, now);
    const [h, p, sig] = t.split('.') as [string, string, string];
    expect(decode(h)).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(decode(p)).toEqual({ exp: now / 1000 + 30, iat: now / 1000, sun: 'alice' });
    // The signature is HMAC-SHA256 of "header.payload" with the key, base64url without padding.
    expect(sig).toBe(createHmac('sha256', key).update(`${h}.${p}`).digest('base64url'));
    expect(sig).not.toContain('=');
    // Another key or another user: another signature.
    expect(mintJwt(Buffer.from('another key, 32 bytes long......'), 'alice', 30, now).split('.')[2]).not.toBe(sig);
    expect(mintJwt(key, 'bob', 30, now).split('.')[2]).not.toBe(sig);
  });

  test('a life over 60 s or not positive is refused', () => {
    expect(MAX_JWT_SECONDS).toBe(60);
    expect(() => mintJwt(key, 'alice', 61)).toThrow(/E_INTERNAL|at most 60 s/);
    expect(() => mintJwt(key, 'alice', 0)).toThrow(/at most 60 s/);
    const p = decode(mintJwt(key, 'alice', 60).split('.')[1]!) as { exp: number; iat: number };
    expect(p.exp - p.iat).toBe(60);
  });

  test('the key file must be root-only (the trusted-path check) and of a sane size', () => {
    const dir = mkdtempSync('/tmp/krb5bridge-jwt-');
    try {
      const f = join(dir, 'jwt.key');
      writeFileSync(f, key, { mode: 0o600 });
      expect(loadJwtKey(f).equals(key)).toBe(true);
      chmodSync(f, 0o640);
      expect(() => loadJwtKey(f)).toThrow(`Slurm JWT key (jwt_key) ${f} has mode 0640: group or others may access it; chmod 0600 ${f}`);
      writeFileSync(f, 'short', { mode: 0o600 });
      chmodSync(f, 0o600);
      expect(() => loadJwtKey(f)).toThrow(`Slurm JWT key ${f} has 5 bytes; expected the key slurmctld uses (AuthAltParameters=jwt_key=, 32 random bytes or more)`);
      expect(() => loadJwtKey(join(dir, 'missing'))).toThrow(/it does not exist/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
