/**
 * `krb5bridge config ...`: the configuration itself. `config defaults` prints the built-in defaults
 * (`--format c`: spank/defaults.h, which the build generates for the plugin).
 */
import type { Argv, CommandModule } from 'yargs';
import { DEFAULT_NODE_STATE_DIR, DEFAULT_STORE_STATE_DIR, defaultConfig } from '../config/config';
import { configDefaultsAsCHeader } from '../config/cheader';
import { out, outJson } from '../client/print';
import type { GlobalArgs } from './common';

interface DefaultsArgs extends GlobalArgs {
  format: 'file' | 'c';
}

const defaultsCommand: CommandModule<GlobalArgs, DefaultsArgs> = {
  command: 'defaults',
  describe: 'Print the built-in defaults (file: as config file lines; c: the plugin header)',
  builder: (y) =>
    y.option('format', { choices: ['file', 'c'] as const, default: 'file' as const, describe: 'file for people, c for spank/defaults.h' }) as unknown as Argv<DefaultsArgs>,
  handler: (args) => {
    if (args.format === 'c') {
      process.stdout.write(configDefaultsAsCHeader());
      return;
    }
    const d = defaultConfig();
    if (args.json) {
      outJson(Object.fromEntries(Object.entries(d).map(([k, v]) => [k, v ?? null])));
      return;
    }
    const unset: Record<string, string> = { state_dir: `the store uses ${DEFAULT_STORE_STATE_DIR}, a compute node ${DEFAULT_NODE_STATE_DIR}` };
    for (const [key, value] of Object.entries(d)) {
      out(value !== undefined ? `${key} = ${value}` : `# ${key} = (not set${unset[key] ? `: ${unset[key]}` : ''})`);
    }
  },
};

export const configCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'config <action>',
  describe: 'The configuration (config defaults ...)',
  builder: (y) => y.command(defaultsCommand as never).demandCommand(1, 'name an action: defaults') as Argv<GlobalArgs>,
  handler: () => undefined,
};
