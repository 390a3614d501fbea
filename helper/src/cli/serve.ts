/** `krb5bridge serve` (root): the credential store daemon. */
import type { CommandModule } from 'yargs';
import { DEFAULT_STORE_STATE_DIR } from '../config/config';
import { build } from '../store/server';
import { logLine } from '../util/log';
import { GlobalArgs, configFrom } from './common';

interface Args extends GlobalArgs {
  listen?: string;
  'state-dir'?: string;
  'min-uid'?: number;
  'max-connections'?: number;
}

export const serveCommand: CommandModule<GlobalArgs, Args> = {
  command: 'serve',
  describe: 'Run the credential store (as root)',
  builder: (y) =>
    y
      .option('listen', { type: 'string', describe: 'address to listen on, HOST:PORT (config: listen)' })
      .option('state-dir', { type: 'string', describe: `where credentials persist (config: state_dir, default ${DEFAULT_STORE_STATE_DIR})` })
      .option('min-uid', { type: 'number', describe: 'lowest uid whose credentials are accepted (config: min_uid, default 1000)' })
      .option('max-connections', { type: 'number', default: 4096, describe: 'open connections beyond this are refused' }),
  handler: async (args) => {
    const config = configFrom(args, {
      listen: args.listen,
      state_dir: args['state-dir'],
      min_uid: args['min-uid'],
    });
    const store = build({
      listen: config.listen,
      stateDir: config.state_dir ?? DEFAULT_STORE_STATE_DIR,
      minUid: config.min_uid,
      mungeSocket: config.munge_socket,
      maxConnections: args['max-connections'],
      log: logLine,
    });
    const addr = await store.listen();
    const shown = addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
    logLine(`listening on ${shown} (state ${store.paths.root}, min_uid ${config.min_uid}, munge socket ${config.munge_socket ?? 'libmunge default'})`);
    await new Promise<void>((resolve) => {
      const stop = (signal: string): void => {
        logLine(`${signal}: no new connections; finishing requests in flight`);
        void store.close().then(() => {
          logLine('stopped');
          resolve();
        });
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    // koffi's worker threads and NSS may keep handles; the store is done.
    process.exit(0);
  },
};
