/** `krb5bridge errors`: print the error registry (the build makes spank/errors.h from it). */
import type { CommandModule } from 'yargs';
import { ERRORS, errorsAsCHeader } from '../errors';
import type { GlobalArgs } from './common';

interface Args extends GlobalArgs {
  format: 'table' | 'c';
}

export const errorsCommand: CommandModule<GlobalArgs, Args> = {
  command: 'errors',
  describe: 'List every error code with its exit status and message',
  builder: (y) => y.option('format', { choices: ['table', 'c'] as const, default: 'table' as const, describe: 'table for people, c for the plugin header' }),
  handler: (args) => {
    if (args.format === 'c') {
      process.stdout.write(errorsAsCHeader());
      return;
    }
    if (args.json) {
      process.stdout.write(JSON.stringify(ERRORS, null, 2) + '\n');
      return;
    }
    for (const [code, spec] of Object.entries(ERRORS)) process.stdout.write(`${String(spec.status).padStart(3)}  ${code.padEnd(22)} ${spec.message}\n`);
  },
};
