/** `krb5bridge materialise` (root, from the plugin in slurmstepd): write or reuse the job's ccache. */
import type { CommandModule } from 'yargs';
import { fetchCreds } from '../client/client';
import { DEFAULT_NODE_STATE_DIR } from '../config/config';
import { materialise, materialiseAnswer } from '../node';
import { out, outJson } from '../client/print';
import { GlobalArgs, configFrom } from './common';

interface Args extends GlobalArgs {
  uid: string;
  gid: string;
  job: string;
  'ccache-dir'?: string;
  'state-dir'?: string;
}

export const materialiseCommand: CommandModule<GlobalArgs, Args> = {
  command: 'materialise',
  describe: "Write (or reuse) a job's ccache from the store; prints KRB5CCNAME=FILE:<path> (root)",
  builder: (y) =>
    y
      // strings: the digits are checked by node/ids (a number option would accept 1e3 or 0x10)
      .option('uid', { type: 'string', demandOption: true, describe: "the job's uid" })
      .option('gid', { type: 'string', demandOption: true, describe: "the job's gid" })
      .option('job', { type: 'string', demandOption: true, describe: 'the Slurm job id' })
      .option('ccache-dir', { type: 'string', describe: 'where job ccaches are created (default /tmp)' })
      .option('state-dir', { type: 'string', describe: `where job records live (default ${DEFAULT_NODE_STATE_DIR})` }),
  handler: async (args) => {
    const config = configFrom(args, { ccache_dir: args['ccache-dir'], state_dir: args['state-dir'] });
    const r = await materialise({
      uid: args.uid,
      gid: args.gid,
      job: args.job,
      ccacheDir: config.ccache_dir,
      stateDir: config.state_dir ?? DEFAULT_NODE_STATE_DIR,
      // The job id lets a job-bound store check that this job of uid runs on this node.
      fetch: async (uid) => (await fetchCreds(config, uid, String(args.job))).krbcred,
      // The job gets its own path even when the store cannot give the credential now; the keeper fills it.
      pendingOnFailure: true,
    });
    // The plugin reads the one line; --json is for people and scripts.
    if (args.json) return outJson({ ccache: r.path, reused: Boolean(r.reused), pending: r.pending ? r.pending.code : null });
    out(materialiseAnswer(r));
  },
};
