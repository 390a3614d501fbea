/** `krb5bridge jobs [--state S]` (on a laptop): your jobs, through the HTTPS gateway. */
import type { CommandModule } from 'yargs';
import { GatewayClient } from '../client/gateway';
import { out, outJson } from '../client/print';
import { GatewayArgs, GlobalArgs, gatewayOptions } from './common';
import { gatewayClient } from './laptop';

interface Args extends GatewayArgs {
  state?: string;
}

export const jobsCommand: CommandModule<GlobalArgs, Args> = {
  command: 'jobs',
  describe: 'List your jobs through the HTTPS gateway',
  builder: (y) =>
    gatewayOptions(y).option('state', { type: 'string', choices: ['queued', 'running', 'completed', 'failed', 'cancelled', 'timeout'], describe: 'only jobs in this state' }) as never,
  handler: async (args) => {
    const a = await gatewayClient(args).call('GET', `/api/v1/jobs${args.state ? `?state=${args.state}` : ''}`);
    if (a.status !== 200) throw GatewayClient.failure(a);
    if (args.json) return outJson(a.body);
    const jobs = (a.body.jobs ?? []) as Record<string, unknown>[];
    out(['JOBID', 'STATE', 'SLURM_STATE', 'EXIT', 'NAME'].join('\t'));
    for (const j of jobs) out([j.job_id, j.state, j.slurm_state, j.exit_code ?? '-', j.name].join('\t'));
  },
};
