/** `krb5bridge show [--uid U]`: one stored credential's details (root: any uid; a user: their own). */
import type { CommandModule } from 'yargs';
import { Krb5BridgeError } from '../errors';
import { showCreds } from '../client/client';
import { isoTime, out, outJson } from '../client/print';
import { GlobalArgs, configFrom } from './common';

interface Args extends GlobalArgs {
  uid?: number;
}

export const showCommand: CommandModule<GlobalArgs, Args> = {
  command: 'show',
  describe: 'Show the stored credential of a uid (default: yours)',
  builder: (y) => y.option('uid', { type: 'number', describe: 'whose credential (root only for others)' }),
  handler: async (args) => {
    const uid = checkUid(args.uid) ?? process.getuid!();
    const r = await showCreds(configFrom(args), uid);
    if (args.json) return outJson(r);
    out(
      [
        `uid:         ${r.uid}`,
        `principal:   ${r.principal}`,
        `authtime:    ${isoTime(r.authtime)}`,
        `expires:     ${isoTime(r.endtime)}`,
        `renew until: ${isoTime(r.renew_till)}`,
        `stored:      ${isoTime(r.stored_at)}`,
      ].join('\n'),
    );
  },
};

export function checkUid(uid: number | undefined): number | undefined {
  if (uid === undefined) return undefined;
  if (!Number.isInteger(uid) || uid < 0 || uid > 4294967294) {
    // yargs turns "abc" into NaN; say so instead of asking the store.
    throw new Krb5BridgeError('E_USAGE', `--uid must be a numeric uid, got ${uid}`);
  }
  return uid;
}
