/** `krb5bridge cancel JOBID` (on a laptop): cancel one of your jobs through the HTTPS gateway. */
import type { CommandModule } from 'yargs';
import { Krb5BridgeError } from '../errors';
import { GatewayClient } from '../client/gateway';
import { out, outJson } from '../client/print';
import { GatewayArgs, GlobalArgs, gatewayOptions } from './common';
import { gatewayClient } from './laptop';

interface Args extends GatewayArgs {
  job: string;
}

export const cancelCommand: CommandModule<GlobalArgs, Args> = {
  command: 'cancel <job>',
  describe: 'Cancel one of your jobs through the HTTPS gateway',
  builder: (y) => gatewayOptions(y).positional('job', { type: 'string', demandOption: true, describe: 'the job id' }) as never,
  handler: async (args) => {
    if (!/^\d{1,10}$/.test(args.job)) throw new Krb5BridgeError('E_USAGE', `a job id is a number, got "${args.job}"`);
    const a = await gatewayClient(args).call('DELETE', `/api/v1/jobs/${args.job}`);
    if (a.status !== 200) throw GatewayClient.failure(a);
    if (args.json) return outJson(a.body);
    out(`cancelled job ${args.job}`);
  },
};
