/** `krb5bridge push` (as the user): send the TGT(s) of the user's ccache to the store, then write the push marker. */
import type { CommandModule } from 'yargs';
import { pushCreds } from '../client/client';
import { markerLine, writeMarker } from '../client/marker';
import { isoTime, out, outJson } from '../client/print';
import { primaryTgt, readTgts } from '../krb5';
import { trace } from '../util/log';
import { GlobalArgs, configFrom } from './common';

interface Args extends GlobalArgs {
  ccache?: string;
  force?: boolean;
  marker?: boolean;
  'marker-dir'?: string;
}

export const pushCommand: CommandModule<GlobalArgs, Args> = {
  command: 'push',
  describe: 'Send your Kerberos TGT to the credential store',
  builder: (y) =>
    y
      .option('ccache', { type: 'string', describe: 'credential cache to read (default: KRB5CCNAME or the libkrb5 default)' })
      .option('force', { type: 'boolean', describe: 'replace the stored ticket even if it is fresher' })
      .option('marker', { type: 'boolean', default: true, describe: 'write the push marker (--no-marker: do not)' })
      .option('marker-dir', { type: 'string', describe: 'directory of the push marker (default /tmp); the plugin passes its marker_dir' }),
  handler: async (args) => {
    const config = configFrom(args, { marker_dir: args['marker-dir'] });
    const bundle = readTgts(args.ccache);
    const tgt = primaryTgt(bundle);
    trace(`read ${bundle.tickets.length} TGT(s) of ${bundle.principal} (${bundle.krbcred.length} bytes of KRB-CRED)`);
    const result = await pushCreds(config, bundle.krbcred, { force: args.force === true, ccache: args.ccache });
    const uid = process.getuid!();
    if (args.marker !== false) await writeMarker(config.marker_dir, uid, markerLine(config.store, bundle.principal, tgt));
    if (args.json) return outJson({ ...result, store: config.store });
    if (result.action === 'stored') out(`pushed ${result.principal} (expires ${isoTime(result.endtime)})`);
    else out(`kept: store already holds a fresher ticket for ${result.principal}`);
  },
};
