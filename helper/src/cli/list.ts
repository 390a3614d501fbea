/** `krb5bridge list`: stored credentials (root: all; a user: their own). Never the tickets themselves. */
import type { CommandModule } from 'yargs';
import { listCreds } from '../client/client';
import { out, outJson, recordTable } from '../client/print';
import { GlobalArgs, configFrom } from './common';

export const listCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'list',
  describe: 'List the credentials the store holds (root: all, user: own)',
  handler: async (args) => {
    const records = await listCreds(configFrom(args));
    if (args.json) return outJson(records);
    if (records.length === 0) return out('the store holds no credentials you may see');
    out(recordTable(records));
  },
};
