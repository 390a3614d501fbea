/** `krb5bridge submit --gateway URL [--negotiate] script.sh` (on a laptop): submit a batch job through the gateway. */
import { readFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { Krb5BridgeError } from '../errors';
import { GatewayClient } from '../client/gateway';
import { out, outJson } from '../client/print';
import { GatewayArgs, GlobalArgs, gatewayOptions } from './common';
import { gatewayClient } from './laptop';

interface Args extends GatewayArgs {
  script: string;
  name?: string;
  partition?: string;
  cpus?: number;
  'memory-mb'?: number;
  time?: number;
  workdir?: string;
  output?: string;
  error?: string;
  array?: string;
  env?: string[];
}

export const submitCommand: CommandModule<GlobalArgs, Args> = {
  command: 'submit <script>',
  describe: 'Submit a batch script through the HTTPS gateway (from a laptop); the job gets your Kerberos ticket',
  builder: (y) =>
    gatewayOptions(y)
      .positional('script', { type: 'string', demandOption: true, describe: 'the batch script (first line #!...)' })
      .option('name', { type: 'string', describe: 'job name' })
      .option('partition', { type: 'string' })
      .option('cpus', { type: 'number', describe: 'CPUs per task' })
      .option('memory-mb', { type: 'number', describe: 'memory per node, MiB' })
      .option('time', { type: 'number', describe: 'time limit, minutes' })
      .option('workdir', { type: 'string', describe: 'working directory on the cluster (default: your home)' })
      .option('output', { type: 'string', describe: 'stdout file pattern (as sbatch --output)' })
      .option('error', { type: 'string', describe: 'stderr file pattern (as sbatch --error)' })
      .option('array', { type: 'string', describe: 'job array, e.g. 1-10%2' })
      .option('env', { type: 'string', array: true, describe: 'NAME=VALUE for the job (repeat); never a secret: slurmctld stores it' }) as never,
  handler: async (args) => {
    let script: string;
    try {
      script = readFileSync(args.script, 'utf8');
    } catch (e) {
      throw new Krb5BridgeError('E_USAGE', `cannot read the script ${args.script}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    const environment: Record<string, string> = {};
    for (const kv of args.env ?? []) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new Krb5BridgeError('E_USAGE', `--env takes NAME=VALUE, got "${kv}"`);
      environment[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    const body: Record<string, unknown> = { script };
    const set = (k: string, v: unknown): void => {
      if (v !== undefined) body[k] = v;
    };
    set('name', args.name);
    set('partition', args.partition);
    set('cpus', args.cpus);
    set('memory_mb', args['memory-mb']);
    set('time_limit_minutes', args.time);
    set('working_directory', args.workdir);
    set('stdout', args.output);
    set('stderr', args.error);
    set('array', args.array);
    if (Object.keys(environment).length) body.environment = environment;
    const a = await gatewayClient(args).call('POST', '/api/v1/jobs', body);
    if (a.status !== 201) throw GatewayClient.failure(a);
    if (args.json) return outJson(a.body);
    out(`submitted job ${String(a.body.job_id)}`);
  },
};
