/** Every verb of the CLI, in the order --help lists them. */
import type { CommandModule } from 'yargs';
import { errorsCommand } from './errors';
import { pushCommand } from './push';
import { serveCommand } from './serve';
import { pingCommand } from './ping';
import { listCommand } from './list';
import { showCommand } from './show';
import { removeCommand } from './remove';
import { materialiseCommand } from './materialise';
import { destroyCommand } from './destroy';
import { ticketCommand } from './ticket';
import { keeperCommand } from './keeper';
import { aclCommand } from './acl';
import { rotateKeyCommand } from './rotate-key';
import { configCommand } from './config';
import { doctorCommand } from './doctor';
import { gatewayCommand } from './gateway';
import { submitCommand } from './submit';
import { jobsCommand } from './jobs';
import { cancelCommand } from './cancel';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [pushCommand, serveCommand, pingCommand, listCommand, showCommand, removeCommand, materialiseCommand, destroyCommand, keeperCommand, ticketCommand, aclCommand, rotateKeyCommand, errorsCommand, configCommand, doctorCommand, gatewayCommand, submitCommand, jobsCommand, cancelCommand];
