/** Every verb of the CLI, in the order --help lists them. */
import type { CommandModule } from 'yargs';
import { errorsCommand } from './errors';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [errorsCommand];
