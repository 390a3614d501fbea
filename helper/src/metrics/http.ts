/**
 * The metrics endpoint: `GET /metrics` in the Prometheus text format, on the address the daemon's
 * `*metrics_listen` key names (off when unset). Meant for loopback (a local Prometheus or node
 * exporter's textfile collector scrapes it, or a reverse proxy adds TLS): an address beyond this
 * host is allowed only as written in the config and logged as such. No request body is read,
 * anything but GET /metrics gets 404/405, and it shares nothing with the store's port.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { parseAddress } from '../config/config';
import { Krb5BridgeError } from '../errors';

export interface MetricsServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export async function serveMetrics(registry: Registry, listen: string, log: (line: string) => void): Promise<MetricsServer> {
  const { host, port } = parseAddress(listen, 'metrics listen address');
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot collect metrics: ${(e as Error).message}\n`),
    );
  });
  server.headersTimeout = 5_000;
  server.requestTimeout = 10_000;
  server.maxConnections = 64;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new Krb5BridgeError('E_CONFIG', `metrics: cannot listen on ${listen}: ${e.code ?? e.message}`, { cause: e })));
    server.listen({ host, port }, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
  log(`metrics on http://${shown}/metrics${isLoopback(host) ? '' : ' (not loopback: reachable from other hosts)'}`);
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
