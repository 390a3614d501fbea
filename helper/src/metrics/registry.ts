/**
 * Prometheus metrics (prom-client): one registry per daemon, its families made here so names,
 * help texts and buckets follow one pattern. A daemon's own file (store.ts, keeper.ts,
 * gateway.ts) registers its families on the registry `newRegistry()` gives it and hooks them
 * where its events happen; http.ts serves the registry (`*metrics_listen`, off by default).
 *
 * Names: `krb5bridge_<daemon>_<what>`, counters ending `_total`, durations in seconds. Labels take
 * a few fixed values only (an op, a result code from errors.ts, a window, a route's pattern),
 * never a uid, a principal, a host or a URL: the number of series stays fixed whatever the
 * number of users.
 *
 * A new daemon's families, as gateway.ts makes them:
 *   const m = newRegistry('gateway');
 *   const logins = counter(m, 'gateway_logins_total', 'Login attempts, by method and result', ['method', 'result']);
 *   const latency = histogram(m, 'gateway_request_duration_seconds', 'Time to answer an HTTP request', ['method', 'route']);
 * then, in its cli/ verb, `serveMetrics(m, config.<daemon>_metrics_listen, logLine)` next to its listen().
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { VERSION } from '../version';

/** Latency buckets, seconds: from a cached answer (~0.5 ms) to a KDC or Slurm round trip that times out. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A registry for one daemon: its families, plus process metrics and `krb5bridge_info{daemon,version}`. */
export function newRegistry(daemon: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client names these gauges *_total, which promtool's lint rejects: left out.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  const info = new Gauge({ name: 'krb5bridge_info', help: 'Always 1; the daemon and the version running', labelNames: ['daemon', 'version'], registers: [registry] });
  info.set({ daemon, version: VERSION }, 1);
  return registry;
}

type Labels<L extends string> = Partial<Record<L, string>>;

export function counter<L extends string>(r: Registry, name: string, help: string, labelNames: readonly L[] = [], collect?: (c: Counter<L>) => void): Counter<L> {
  return new Counter<L>({ name: `krb5bridge_${name}`, help, labelNames, registers: [r], ...(collect ? { collect() { collect(this); } } : {}) });
}

export function gauge<L extends string>(r: Registry, name: string, help: string, labelNames: readonly L[] = [], collect?: (g: Gauge<L>) => void): Gauge<L> {
  return new Gauge<L>({ name: `krb5bridge_${name}`, help, labelNames, registers: [r], ...(collect ? { collect() { collect(this); } } : {}) });
}

export function histogram<L extends string>(r: Registry, name: string, help: string, labelNames: readonly L[] = []): Histogram<L> {
  return new Histogram<L>({ name: `krb5bridge_${name}`, help, labelNames, buckets: LATENCY_BUCKETS, registers: [r] });
}

/** A counter whose value a daemon already keeps (keeper stats): set at each scrape. */
export function setCounter<L extends string>(c: Counter<L>, value: number, labels?: Labels<L>): void {
  if (labels) {
    c.remove(labels as never);
    c.inc(labels as never, value);
  } else {
    c.reset();
    c.inc(value);
  }
}

/** Seconds since a process.hrtime.bigint() reading. */
export function since(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
