/** `krb5bridge destroy` (root, at job end): remove the job's ccache and record. Idempotent. */
import type { CommandModule } from 'yargs';
import { DEFAULT_NODE_STATE_DIR } from '../config/config';
import { destroy } from '../node';
import { out, outJson } from '../client/print';
import { GlobalArgs, configFrom } from './common';

interface Args extends GlobalArgs {
  uid: string;
  job: string;
  'state-dir'?: string;
}

export const destroyCommand: CommandModule<GlobalArgs, Args> = {
  command: 'destroy',
  describe: "Remove a job's ccache and job record (root)",
  builder: (y) =>
    y
      .option('uid', { type: 'string', demandOption: true, describe: "the job's uid" })
      .option('job', { type: 'string', demandOption: true, describe: 'the Slurm job id' })
      .option('state-dir', { type: 'string', describe: `where job records live (default ${DEFAULT_NODE_STATE_DIR})` }),
  handler: (args) => {
    const config = configFrom(args, { state_dir: args['state-dir'] });
    const result = destroy({ uid: args.uid, job: args.job, stateDir: config.state_dir ?? DEFAULT_NODE_STATE_DIR });
    if (args.json) outJson(result);
    else out(result.message);
  },
};
