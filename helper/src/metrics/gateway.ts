/**
 * The HTTPS gateway's metrics. HTTP requests: counted and timed as fastify finishes each answer
 * (gateway/server.ts calls `observe` from its onResponse hook) by the route's pattern, never the
 * URL asked for (`/api/v1/jobs/:id`, not a job id; a URL no route matches is `unmatched`).
 * Logins and submissions: the gateway's audit events (password.ts and negotiate.ts record one per
 * login attempt that reaches them, the submit route one per submission to slurmrestd), counted by
 * the tee `audit()` puts in front of the audit log, as the store counts its renewals. Sessions:
 * read at each scrape.
 *
 *   krb5bridge_gateway_requests_total{method,route,status}       status = the HTTP status answered
 *   krb5bridge_gateway_request_duration_seconds{method,route}    histogram
 *   krb5bridge_gateway_logins_total{method=password|negotiate,result}     result = ok or the error code
 *   krb5bridge_gateway_submissions_total{result}                 result = ok or the error code
 *   krb5bridge_gateway_sessions                                  sessions open (expired ones until the
 *                                                                minute's sweep or their next use)
 */
import type { Registry } from 'prom-client';
import type { Audit } from '../audit/audit';
import { counter, gauge, histogram, newRegistry } from './registry';

export interface GatewayMetrics {
  readonly registry: Registry;
  /** One answered HTTP request: its method, route pattern, status and how long it took. */
  observe(method: string, route: string, status: number, seconds: number): void;
  /** An Audit that counts logins and submissions, then passes every event on to `inner`. */
  audit(inner: Audit): Audit;
  /** Where the sessions gauge reads its value (the gateway's Sessions, made after this). */
  sessionsFrom(count: () => number): void;
}

/** The audit's `mech` of a login as the metric's `method`. */
const LOGIN_METHOD: Record<string, string> = { password: 'password', spnego: 'negotiate' };

export function gatewayMetrics(): GatewayMetrics {
  const registry = newRegistry('gateway');
  const requests = counter(registry, 'gateway_requests_total', 'HTTP requests answered, by method, route pattern and status', ['method', 'route', 'status']);
  const latency = histogram(registry, 'gateway_request_duration_seconds', 'Time to answer an HTTP request, by method and route pattern', ['method', 'route']);
  const logins = counter(registry, 'gateway_logins_total', 'Login attempts, by method (password|negotiate) and result (ok or the error code)', ['method', 'result']);
  const submissions = counter(registry, 'gateway_submissions_total', 'Job submissions to slurmrestd, by result (ok or the error code)', ['result']);
  let sessions = (): number => 0;
  gauge(registry, 'gateway_sessions', 'Sessions the gateway holds (a session ends at logout, or at its ticket\'s end by the next minute\'s sweep)', [], (g) => g.set(sessions()));
  for (const method of Object.values(LOGIN_METHOD)) logins.inc({ method, result: 'ok' }, 0);
  submissions.inc({ result: 'ok' }, 0);
  return {
    registry,
    observe(method, route, status, seconds) {
      requests.inc({ method, route, status: String(status) });
      latency.observe({ method, route }, seconds);
    },
    audit(inner) {
      return {
        record(e) {
          const result = e.result === 'ok' ? 'ok' : (e.code ?? 'E_INTERNAL');
          if (e.op === 'login') logins.inc({ method: LOGIN_METHOD[e.mech ?? ''] ?? 'other', result });
          else if (e.op === 'submit') submissions.inc({ result });
          inner.record(e);
        },
        close: () => inner.close(),
      };
    },
    sessionsFrom(count) {
      sessions = count;
    },
  };
}
