/** `krb5bridge remove [--uid U]`: delete a stored credential (your own; root: anyone's). */
import type { CommandModule } from 'yargs';
import { removeCreds } from '../client/client';
import { out, outJson } from '../client/print';
import { GlobalArgs, configFrom } from './common';
import { checkUid } from './show';

interface Args extends GlobalArgs {
  uid?: number;
}

export const removeCommand: CommandModule<GlobalArgs, Args> = {
  command: 'remove',
  describe: 'Remove a stored credential (default: yours)',
  builder: (y) => y.option('uid', { type: 'number', describe: 'whose credential (root only for others)' }),
  handler: async (args) => {
    const r = await removeCreds(configFrom(args), checkUid(args.uid));
    if (args.json) return outJson({ removed: true, ...r });
    out(`removed the credential of uid ${r.uid} (${r.principal})`);
  },
};
