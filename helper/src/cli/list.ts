/**
 * `krb5bridge list`: stored credentials (root: all; a user: their own). Never the tickets themselves.
 * `--expiring-in 2h`: only those whose last valid moment (renew-until if renewable, else the end
 * time) is within that long: the users who must kinit again soon.
 */
import type { Argv, CommandModule } from 'yargs';
import { listCreds } from '../client/client';
import { out, outJson, recordTable } from '../client/print';
import { lastValid, parseDuration } from '../util/expiry';
import { GlobalArgs, configFrom } from './common';

interface Args extends GlobalArgs {
  'expiring-in'?: string;
}

export const listCommand: CommandModule<GlobalArgs, Args> = {
  command: 'list',
  describe: 'List the credentials the store holds (root: all, user: own)',
  builder: (y) =>
    y.option('expiring-in', {
      type: 'string',
      describe: 'only credentials no longer usable within this long (90s, 30m, 2h, 7d): renew-until, else end time',
    }) as unknown as Argv<Args>,
  handler: async (args) => {
    const within = args['expiring-in'] !== undefined ? parseDuration(args['expiring-in'], '--expiring-in') : undefined;
    let records = await listCreds(configFrom(args));
    if (within !== undefined) {
      const limit = Date.now() / 1000 + within;
      records = records.filter((r) => lastValid(r) <= limit);
    }
    if (args.json) return outJson(records);
    if (records.length === 0) {
      return out(within === undefined ? 'the store holds no credentials you may see' : `no credential you may see stops being usable within ${args['expiring-in']}`);
    }
    out(recordTable(records));
  },
};
