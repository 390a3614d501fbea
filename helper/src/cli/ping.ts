/** `krb5bridge ping`: is the store there, and who does it think you are. */
import type { CommandModule } from 'yargs';
import { ping } from '../client/client';
import { out, outJson } from '../client/print';
import { GlobalArgs, configFrom } from './common';

export const pingCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'ping',
  describe: 'Check the credential store: the uid it authenticated and its version',
  handler: async (args) => {
    const config = configFrom(args);
    const r = await ping(config);
    if (args.json) return outJson({ store: config.store, ...r });
    out(`store ${config.store} answered; it authenticated you as uid ${r.uid} (version ${r.version})`);
    if (r.storage) out(`warning: the store cannot save to its storage: ${r.storage}`);
  },
};
