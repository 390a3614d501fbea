/** `krb5bridge ticket`: the principal and TGT(s) of a ccache, as libkrb5 reads them. */
import type { CommandModule } from 'yargs';
import { isoTime, out, outJson } from '../client/print';
import { readTgts } from '../krb5';
import { trace } from '../util/log';
import type { GlobalArgs } from './common';

interface Args extends GlobalArgs {
  ccache?: string;
}

export const ticketCommand: CommandModule<GlobalArgs, Args> = {
  command: 'ticket',
  describe: 'Show the principal and the ticket-granting tickets of a credential cache',
  builder: (y) => y.option('ccache', { type: 'string', describe: 'credential cache (default: KRB5CCNAME or the libkrb5 default)' }),
  handler: (args) => {
    trace(`reading ${args.ccache ?? 'the default ccache'}`);
    const { principal, tickets } = readTgts(args.ccache);
    if (args.json) return outJson({ principal, tickets });
    out(`principal: ${principal}`);
    for (const t of tickets) {
      out(`${t.server}  start ${isoTime(t.starttime)}  end ${isoTime(t.endtime)}  renew-until ${isoTime(t.renew_till)}  flags ${t.flags || '-'}`);
    }
  },
};
