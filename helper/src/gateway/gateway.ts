/**
 * The gateway put together from the config (docs/gateway.md): its keytab (trusted path) shared by
 * password verification and SPNEGO, Slurm's JWT key (trusted path), the KDC workers, sessions,
 * the login guard, slurmrestd, the audit log; then the HTTPS server. `krb5bridge gateway`
 * (cli/gateway.ts) loads this module only when it runs, so other verbs never load fastify. With
 * metrics on, it hooks them in: each answered request, the audit events of logins and
 * submissions, the number of sessions (metrics/gateway.ts).
 */
import type { Config } from '../config/config';
import type { GatewayMetrics } from '../metrics/gateway';
import { Krb5BridgeError } from '../errors';
import { openAuditLog, noAudit } from '../audit/audit';
import { Keytab, hostServicePrincipal } from '../krb5';
import { destroyCcache } from '../krb5/ccache';
import { KdcLogin } from '../krb5/password';
import { SpnegoAcceptor } from '../krb5/spnego';
import { storePrincipal } from '../wire/auth';
import { AccountResolver } from '../sys/accounts';
import { loadJwtKey } from './jwt';
import { LoginGuard } from './lockout';
import { Gateway, buildGateway } from './server';
import { Sessions } from './sessions';
import { SlurmRestd } from './slurmrestd';

export async function startGateway(config: Config, log: (line: string) => void, metrics?: GatewayMetrics): Promise<{ gateway: Gateway; principal: string }> {
  if (config.auth !== 'krb5') {
    throw new Krb5BridgeError('E_CONFIG', 'the gateway pushes each user\'s ticket to the store as that user, which needs Kerberos: set auth = krb5 (and store_principal) in its config');
  }
  const principal = config.gateway_principal ?? hostServicePrincipal('HTTP');
  const jwtKey = loadJwtKey(config.jwt_key);
  const keytab = Keytab.open(config.gateway_keytab, principal, 'gateway');
  try {
    const logged = config.gateway_audit_log ? openAuditLog(config.gateway_audit_log, log) : noAudit;
    const audit = metrics ? metrics.audit(logged) : logged;
    const sessions = new Sessions((s) => destroyCcache(s.ccache));
    metrics?.sessionsFrom(() => sessions.size);
    const gateway = await buildGateway({
      config,
      keytab,
      kdc: new KdcLogin({
        keytab,
        principal,
        storePrincipal: storePrincipal(config),
        renewLifetime: config.gateway_renew_lifetime,
        policy: { concurrency: config.renew_concurrency, perSecond: config.renew_rate, timeoutMs: config.kdc_timeout * 1000 },
      }),
      spnego: new SpnegoAcceptor(keytab),
      sessions,
      guard: new LoginGuard({ failures: config.gateway_lockout_failures, windowMs: config.gateway_lockout_window * 1000, perMinute: config.gateway_login_rate }),
      accounts: new AccountResolver(60_000, 5_000),
      restd: new SlurmRestd(config.slurmrestd, config.timeout * 1000),
      jwtKey,
      audit,
      log,
      observe: metrics ? (method, route, status, seconds) => metrics.observe(method, route, status, seconds) : undefined,
    });
    return { gateway, principal };
  } catch (e) {
    keytab.close();
    throw e;
  }
}
