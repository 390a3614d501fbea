/**
 * Scraping the test cluster's Prometheus endpoints (`up --metrics`) as Prometheus would: curl for
 * the text, one sample's value by its exact name and labels, and promtool (Debian's prometheus
 * package) for the verdict on the exposition format.
 */
import { spawnSync } from 'node:child_process';

/** GET http://ADDRESS/metrics with curl; throws unless it answers 200. */
export function scrape(address: string): string {
  const r = spawnSync('curl', ['-sS', '--fail', `http://${address}/metrics`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`curl http://${address}/metrics: ${r.stderr}`);
  return r.stdout;
}

/** The value of one sample (name and exact label set as printed), 0 when absent. */
export function value(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}

/** `promtool check metrics` on a scrape: its exit status and everything it printed. */
export function promtool(text: string): { code: number; out: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { code: r.status ?? 128, out: `${r.stdout}${r.stderr}` };
}
