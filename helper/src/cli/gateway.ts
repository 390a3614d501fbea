/** `krb5bridge gateway` (root): the HTTPS gateway for laptops (docs/gateway.md). */
import type { CommandModule } from 'yargs';
import { runUntilSignalled } from '../util/daemon';
import { hardeningState } from '../util/harden';
import { logLine } from '../util/log';
import { GlobalArgs, configFrom } from './common';

interface Args extends GlobalArgs {
  listen?: string;
}

export const gatewayCommand: CommandModule<GlobalArgs, Args> = {
  command: 'gateway',
  describe: 'Run the HTTPS gateway: password or SPNEGO login, job submission through slurmrestd (as root)',
  builder: (y) => y.option('listen', { type: 'string', describe: 'HTTPS address HOST:PORT (config: gateway_listen, default 0.0.0.0:8443)' }),
  handler: async (args) => {
    // --json: log lines as JSON objects, as log_format = json does (as on serve and keeper).
    const config = configFrom(args, { gateway_listen: args.listen, log_format: args.json ? 'json' : undefined });
    // Loaded here only: fastify and the gateway stay out of every other verb's start-up.
    const { startGateway } = await import('../gateway/gateway');
    const { gateway, principal } = await startGateway(config, logLine);
    const addr = await gateway.listen();
    logLine(
      `gateway listening on https://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port} (principal ${principal}, keytab ${config.gateway_keytab}, store ${config.store} as each user, slurmrestd ${config.slurmrestd}, audit log ${config.gateway_audit_log ?? 'off'}; ${hardeningState()})`,
    );
    await runUntilSignalled({ name: 'gateway', log: logLine, stopping: 'no new connections; finishing requests in flight', stop: () => gateway.close() });
  },
};
