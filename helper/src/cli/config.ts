/**
 * `krb5bridge config ...`: the configuration itself. `config defaults` prints the built-in defaults
 * (`--format c`: spank/defaults.h, which the build generates for the plugin); `config check` reads
 * the configuration as every verb does (strictly: a bad line is E_CONFIG naming it) and prints
 * the effective value of every key with where it came from: default, FILE:LINE or the flag.
 */
import type { Argv, CommandModule } from 'yargs';
import { CONFIG_KEYS, DEFAULT_NODE_STATE_DIR, DEFAULT_STORE_STATE_DIR, defaultConfig } from '../config/config';
import { configDefaultsAsCHeader } from '../config/cheader';
import { out, outJson } from '../client/print';
import { GlobalArgs, configWithOrigins } from './common';

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

const checkCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'check',
  describe: 'Check the configuration and print every effective value with where it came from (default, FILE:LINE, flag)',
  handler: (args) => {
    const { config, origins, file, read } = configWithOrigins(args);
    const values = config as unknown as Record<string, string | number | undefined>;
    if (args.json) {
      outJson({ file, read, keys: Object.fromEntries(CONFIG_KEYS.map((k) => [k, { value: values[k] ?? null, origin: origins[k] }])) });
      return;
    }
    out(`# config file ${file}: ${read ? 'read, valid' : 'not present (defaults apply)'}`);
    const width = Math.max(...CONFIG_KEYS.map((k) => `${k} = ${values[k] ?? '(not set)'}`.length));
    for (const k of CONFIG_KEYS) out(`${`${k} = ${values[k] ?? '(not set)'}`.padEnd(width)}  # ${origins[k]}`);
  },
};

export const configCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'config <action>',
  describe: 'The configuration (config check, config defaults)',
  builder: (y) => y.command(checkCommand as never).command(defaultsCommand as never).demandCommand(1, 'name an action: check or defaults') as Argv<GlobalArgs>,
  handler: () => undefined,
};
