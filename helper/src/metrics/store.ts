/**
 * The store's metrics. Requests: counted and timed where the service answers each one
 * (service/index.ts calls `observe`). Credentials held and expiring: read from the records at
 * each scrape. Renewals and KDC errors: the renewer's audit events (one per renewal that ends),
 * counted by the tee `renewals()` puts in front of the audit log.
 *
 *   krb5bridge_store_requests_total{op,result}            result = ok or the error code (E_PERMISSION, ...)
 *   krb5bridge_store_request_duration_seconds{op}         histogram
 *   krb5bridge_store_credentials                          credentials held
 *   krb5bridge_store_credentials_expiring{within=1h|24h}  held credentials whose last valid moment
 *                                                         (renew-until if renewable, else the end time) is that close
 *   krb5bridge_store_renewals_total{result=ok|failed|not_renewable}
 *   krb5bridge_store_kdc_errors_total{code}               failed KDC renewal exchanges (E_KDC_UNREACHABLE, E_KRB5)
 *   krb5bridge_store_drops_total                          expired credentials removed
 */
import type { Registry } from 'prom-client';
import type { Audit } from '../audit/audit';
import type { RecordStore } from '../records/types';
import { lastValid } from '../util/expiry';
import { counter, gauge, histogram, newRegistry } from './registry';

export interface StoreMetrics {
  readonly registry: Registry;
  /** One answered request: its op, `ok` or the error code, and how long it took. */
  observe(op: string, result: string, seconds: number): void;
  /** An Audit that counts the renewer's events, then passes every event on to `inner`. */
  renewals(inner: Audit): Audit;
}

const WINDOWS: [string, number][] = [
  ['1h', 3600],
  ['24h', 86400],
];

export function storeMetrics(records: RecordStore, now: () => number = () => Date.now() / 1000): StoreMetrics {
  const registry = newRegistry('store');
  const requests = counter(registry, 'store_requests_total', 'Requests answered by the store, by op and result (ok or the error code)', ['op', 'result']);
  const latency = histogram(registry, 'store_request_duration_seconds', 'Time from a decoded request to its answer, by op', ['op']);
  gauge(registry, 'store_credentials', 'Credentials the store holds', [], (g) => g.set(records.list().length));
  gauge(registry, 'store_credentials_expiring', 'Credentials whose last valid moment (renew-until, else end time) is within the window', ['within'], (g) => {
    const t = now();
    const last = records.list().map((e) => lastValid(e.cred));
    for (const [label, seconds] of WINDOWS) g.set({ within: label }, last.filter((end) => end - t <= seconds).length);
  });
  const renewals = counter(registry, 'store_renewals_total', 'Renewals of stored TGTs at the KDC that ended, by result', ['result']);
  const kdcErrors = counter(registry, 'store_kdc_errors_total', 'Renewal exchanges with the KDC that failed, by error code', ['code']);
  const drops = counter(registry, 'store_drops_total', 'Expired credentials removed from the store');
  for (const result of ['ok', 'failed', 'not_renewable']) renewals.inc({ result }, 0);
  return {
    registry,
    observe(op, result, seconds) {
      requests.inc({ op, result });
      latency.observe({ op }, seconds);
    },
    renewals(inner) {
      return {
        record(e) {
          if (e.mech === 'renewer' && e.op === 'refresh') {
            if (e.result === 'ok') renewals.inc({ result: 'ok' });
            else if (e.code === 'E_NOT_RENEWABLE') renewals.inc({ result: 'not_renewable' });
            else {
              renewals.inc({ result: 'failed' });
              kdcErrors.inc({ code: e.code ?? 'E_INTERNAL' });
            }
          } else if (e.mech === 'renewer' && e.op === 'drop') drops.inc();
          inner.record(e);
        },
        close: () => inner.close(),
      };
    },
  };
}
