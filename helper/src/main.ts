/**
 * krb5bridge: the helper behind the SPANK plugin, the store daemon and the sysadmin's tool.
 * One verb per module in cli/; this file only wires them and owns failure output.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { Krb5BridgeError, formatErrorLine, isKrb5BridgeError } from './errors';
import { setVerbose } from './util/log';
import { globalOptions } from './cli/common';
import { commands } from './cli/index';
import { VERSION } from './version';
import { hardenProcess } from './util/harden';

function fail(e: Krb5BridgeError): never {
  process.stderr.write(formatErrorLine(e) + '\n');
  process.exit(e.status);
}

async function main(argv: string[]): Promise<void> {
  let y = globalOptions(yargs(argv))
    .scriptName('krb5bridge')
    .usage('$0 <command> [options]\n\nKerberos credentials for Slurm jobs.')
    .strict()
    .demandCommand(1, 'name a command; see --help')
    .recommendCommands()
    .version(VERSION)
    .help()
    .alias('h', 'help')
    .wrap(Math.min(100, process.stdout.columns || 100))
    .middleware((a) => setVerbose(Boolean(a.verbose)))
    .fail((msg, err) => {
      if (err) throw err;
      throw new Krb5BridgeError('E_USAGE', msg);
    });
  for (const c of commands) y = y.command(c as never);
  await y.parseAsync();
}

// Before anything reads a secret: no core dumps; root processes not dumpable (util/harden.ts).
hardenProcess();
main(hideBin(process.argv)).catch((e: unknown) => {
  if (isKrb5BridgeError(e)) fail(e);
  const internal = new Krb5BridgeError('E_INTERNAL', e instanceof Error ? e.message : String(e), { cause: e });
  if (process.env.KRB5BRIDGE_DEBUG === '1' && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  fail(internal);
});
