/**
 * The node keeper's metrics. Requests from the plugin: counted and timed where keeper/server.ts
 * answers each line (`observe`). Everything else the keeper already counts (Keeper.stats): read at
 * each scrape, so the refresh cycle and the sweep stay as they are.
 *
 *   krb5bridge_keeper_requests_total{op,result}        op = materialise|destroy|ping|stats, result = ok or the error code
 *   krb5bridge_keeper_request_duration_seconds{op}     histogram
 *   krb5bridge_keeper_job_ccaches                      job ccaches the keeper manages now
 *   krb5bridge_keeper_refreshes_total{result=ok|failed} job ccaches rewritten with a fresher ticket / attempts that failed
 *   krb5bridge_keeper_kdc_renewals_total               renewals at the KDC (the store was unreachable)
 *   krb5bridge_keeper_cycles_total                     refresh cycles run
 *   krb5bridge_keeper_sweeps_total                     sweeps run (Slurm answered)
 *   krb5bridge_keeper_swept_total                      job ccaches removed by sweeps
 */
import type { Registry } from 'prom-client';
import type { KeeperStats } from '../keeper/keeper';
import { counter, gauge, histogram, newRegistry, setCounter } from './registry';

export interface KeeperMetrics {
  readonly registry: Registry;
  observe(op: string, result: string, seconds: number): void;
}

export function keeperMetrics(stats: () => KeeperStats): KeeperMetrics {
  const registry = newRegistry('keeper');
  const requests = counter(registry, 'keeper_requests_total', "Requests on the keeper's socket, by op and result (ok or the error code)", ['op', 'result']);
  const latency = histogram(registry, 'keeper_request_duration_seconds', "Time to answer a request on the keeper's socket, by op", ['op']);
  gauge(registry, 'keeper_job_ccaches', 'Job ccaches the keeper manages', [], (g) => g.set(stats().jobs));
  counter(registry, 'keeper_refreshes_total', 'Job ccache refreshes, by result (ok: rewritten with a fresher ticket)', ['result'], (c) => {
    const s = stats();
    setCounter(c, s.refreshes, { result: 'ok' });
    setCounter(c, s.failures, { result: 'failed' });
  });
  counter(registry, 'keeper_kdc_renewals_total', 'Renewals at the KDC while the store was unreachable', [], (c) => setCounter(c, stats().kdcRenewals));
  counter(registry, 'keeper_cycles_total', 'Refresh cycles run', [], (c) => setCounter(c, stats().cycles));
  counter(registry, 'keeper_sweeps_total', 'Sweeps for ccaches of ended jobs (Slurm answered)', [], (c) => setCounter(c, stats().sweeps));
  counter(registry, 'keeper_swept_total', 'Job ccaches removed by sweeps', [], (c) => setCounter(c, stats().swept));
  return {
    registry,
    observe(op, result, seconds) {
      requests.inc({ op, result });
      latency.observe({ op }, seconds);
    },
  };
}
