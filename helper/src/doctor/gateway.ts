/**
 * The gateway host (`--role gateway`; docs/gateway.md): its TLS certificate and key, read as the
 * gateway reads them (gateway/tls.ts: the key root's alone), the certificate current and made for
 * that key; its keytab root's and usable for gateway_principal (kerberos.ts's keytab check);
 * Slurm's JWT key loaded as the gateway loads it (root's alone, long enough); and slurmrestd
 * answering a ping with a token minted as the gateway mints one per request.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { userInfo } from 'node:os';
import type { Config } from '../config/config';
import { loadJwtKey, mintJwt } from '../gateway/jwt';
import { SlurmRestd } from '../gateway/slurmrestd';
import { readTlsCert, readTlsKey } from '../gateway/tls';
import { hostServicePrincipal } from '../krb5';
import { keytabCheck } from './kerberos';
import { type CheckGroup, type Finding, fail, ok, skip, warn, why } from './types';

/** A certificate this close to its end is a warning: time to renew it. */
const RENEW_WITHIN_DAYS = 7;

/** The remedy for a file the trusted-path check refused: `missing` when it does not exist, else root's at `mode`. */
function fileRemedy(e: unknown, path: string, mode: string, missing: string): string {
  if (/does not exist/.test(why(e))) return missing;
  return `chown root:root ${path} && chmod ${mode} ${path}`;
}

function tlsChecks(config: Config, now: number): Finding[] {
  const { gateway_cert: certPath, gateway_key: keyPath } = config;
  const unset = 'set gateway_cert and gateway_key in the config: the gateway serves HTTPS only (PEM files from your site\'s CA, the key 0600 root)';
  if (!certPath || !keyPath) return [fail('gateway-cert', `${certPath ? 'gateway_key' : 'gateway_cert'} is not set`, unset)];
  let cert: X509Certificate | undefined;
  let certFinding: Finding;
  try {
    cert = new X509Certificate(readTlsCert(certPath));
    const ends = Date.parse(cert.validTo);
    const left = Math.floor((ends - now) / 86_400_000);
    const renew = `renew the certificate for ${cert.subject.replace(/\n/g, ', ')} and restart the gateway (systemctl restart krb5bridge-gateway)`;
    if (Date.parse(cert.validFrom) > now) certFinding = fail('gateway-cert', `${certPath} is not valid before ${cert.validFrom}`, `check this host's clock, or ${renew}`);
    else if (ends <= now) certFinding = fail('gateway-cert', `${certPath} expired on ${cert.validTo}: clients refuse the connection`, renew);
    else if (left < RENEW_WITHIN_DAYS) certFinding = warn('gateway-cert', `${certPath} expires on ${cert.validTo} (in ${left} days)`, renew);
    else certFinding = ok('gateway-cert', `${certPath} is valid until ${cert.validTo} (${cert.subject.replace(/\n/g, ', ')})`);
  } catch (e) {
    cert = undefined;
    certFinding = fail('gateway-cert', why(e), fileRemedy(e, certPath, '0644', `install the certificate chain (PEM) at ${certPath}, or set gateway_cert`));
  }
  let keyFinding: Finding;
  try {
    const key = createPrivateKey(readTlsKey(keyPath));
    if (cert && !cert.checkPrivateKey(key)) {
      keyFinding = fail('gateway-key', `${keyPath} is not the key of the certificate ${certPath}`, `install the key the certificate was issued for, or a certificate for this key`);
    } else keyFinding = ok('gateway-key', `${keyPath} is root's alone (${key.asymmetricKeyType ?? 'private'} key)${cert ? ' and matches the certificate' : ''}`);
  } catch (e) {
    keyFinding = fail('gateway-key', why(e), fileRemedy(e, keyPath, '0600', `install the private key (PEM, 0600 root) at ${keyPath}, or set gateway_key`));
  }
  return [certFinding, keyFinding];
}

function jwtKeyCheck(path: string): { finding: Finding; key?: Buffer } {
  try {
    const key = loadJwtKey(path);
    return { finding: ok('jwt-key', `${path} is root's alone, ${key.length} bytes`), key };
  } catch (e) {
    const msg = why(e);
    const remedy = /bytes/.test(msg)
      ? `copy here the key slurmctld uses (AuthAltParameters=jwt_key=...; make one with dd if=/dev/urandom of=${path} bs=32 count=1), 0600 root`
      : fileRemedy(e, path, '0600', `copy slurmctld's JWT key (AuthAltParameters=jwt_key=...) to ${path}, 0600 root, or set jwt_key`);
    return { finding: fail('jwt-key', msg, remedy) };
  }
}

/** GET /ping through slurmrestd, as the gateway calls it: a JWT of jwt_key for the user running doctor. */
async function slurmrestdCheck(config: Config, key: Buffer | undefined): Promise<Finding> {
  if (!key) return skip('slurmrestd', `cannot mint a token for slurmrestd at ${config.slurmrestd}: see the jwt-key check`);
  const restd = new SlurmRestd(config.slurmrestd, config.timeout * 1000);
  const user = userInfo().username;
  try {
    const a = await restd.request('GET', '/ping', { user, token: mintJwt(key, user) });
    SlurmRestd.check(a, 'ping');
    const pings = Array.isArray(a.body.pings) ? (a.body.pings as { hostname?: string; ping?: string; mode?: string }[]) : [];
    const up = pings.filter((p) => p.ping === 'UP');
    const shown = pings.map((p) => `${p.hostname ?? '?'} ${p.ping ?? '?'}${p.mode ? ` (${p.mode})` : ''}`).join(', ');
    if (up.length === 0) return fail('slurmrestd', `slurmrestd at ${config.slurmrestd} answers, but no slurmctld is up: ${shown || 'no pings'}`, 'start slurmctld and check that slurmrestd reaches it (its slurm.conf)');
    return ok('slurmrestd', `slurmrestd at ${config.slurmrestd} accepted a token of jwt_key; slurmctld ${shown}`);
  } catch (e) {
    const msg = why(e);
    const remedy = /token|Unspecified/.test(msg)
      ? "jwt_key must be slurmctld's key (AuthAltTypes=auth/jwt, AuthAltParameters=jwt_key=), slurmrestd run with -a rest_auth/jwt, and the clocks synchronised"
      : `start slurmrestd (systemctl start slurmrestd; as an unprivileged user, -a rest_auth/jwt) and check slurmrestd = ${config.slurmrestd} in the config`;
    return fail('slurmrestd', msg, remedy);
  } finally {
    restd.close();
  }
}

export const gatewayChecks: CheckGroup = {
  roles: ['gateway'],
  async run({ config, root }) {
    if (!root) return [skip('gateway', 'run as root to check the gateway host (its keys are root\'s alone)')];
    const jwt = jwtKeyCheck(config.jwt_key);
    return [
      ...tlsChecks(config, Date.now()),
      keytabCheck('gateway-keytab', config.gateway_keytab, () => config.gateway_principal ?? hostServicePrincipal('HTTP')),
      jwt.finding,
      await slurmrestdCheck(config, jwt.key),
    ];
  },
};
