/** `krb5bridge gateway` (root): the HTTPS gateway for laptops (docs/gateway.md). */
import type { CommandModule } from 'yargs';
import { runUntilSignalled } from '../util/daemon';
import { hardeningState } from '../util/harden';
import { logLine } from '../util/log';
import { GlobalArgs, configFrom } from './common';

interface Args extends GlobalArgs {
  listen?: string;
  'metrics-listen'?: string;
}

export const gatewayCommand: CommandModule<GlobalArgs, Args> = {
  command: 'gateway',
  describe: 'Run the HTTPS gateway: password or SPNEGO login, job submission through slurmrestd (as root)',
  builder: (y) =>
    y
      .option('listen', { type: 'string', describe: 'HTTPS address HOST:PORT (config: gateway_listen, default 0.0.0.0:8443)' })
      .option('metrics-listen', { type: 'string', describe: 'serve Prometheus metrics on HOST:PORT/metrics (config: gateway_metrics_listen; default off)' }),
  handler: async (args) => {
    // --json: log lines as JSON objects, as log_format = json does (as on serve and keeper).
    const config = configFrom(args, { gateway_listen: args.listen, gateway_metrics_listen: args['metrics-listen'], log_format: args.json ? 'json' : undefined });
    // Loaded here only: fastify and the gateway stay out of every other verb's start-up.
    const { startGateway } = await import('../gateway/gateway');
    // prom-client is loaded only when metrics are on; made before the gateway so its first request is counted.
    const listen = config.gateway_metrics_listen;
    const m = listen ? { ...(await import('../metrics/gateway')), ...(await import('../metrics/http')) } : undefined;
    const metrics = m?.gatewayMetrics();
    const { gateway, principal } = await startGateway(config, logLine, metrics);
    const addr = await gateway.listen();
    const metricsServer = m && metrics && listen ? await m.serveMetrics(metrics.registry, listen, logLine) : undefined;
    logLine(
      `gateway listening on https://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port} (principal ${principal}, keytab ${config.gateway_keytab}, store ${config.store} as each user, slurmrestd ${config.slurmrestd}, audit log ${config.gateway_audit_log ?? 'off'}; ${hardeningState()})`,
    );
    await runUntilSignalled({
      name: 'gateway',
      log: logLine,
      stopping: 'no new connections; finishing requests in flight',
      stop: async () => {
        await Promise.all([gateway.close(), metricsServer?.close()]);
      },
    });
  },
};
