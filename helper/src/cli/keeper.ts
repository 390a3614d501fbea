/** `krb5bridge keeper` (root, one per compute node): refreshes job ccaches, serves the plugin. */
import { hostname } from 'node:os';
import type { CommandModule } from 'yargs';
import { DEFAULT_NODE_STATE_DIR } from '../config/config';
import { configureRenewals, renewKrbCred } from '../krb5';
import { checkRefreshCommand } from '../keeper/command';
import { StoreLink } from '../keeper/storelink';
import { build } from '../keeper/server';
import { slurmRunner } from '../slurm/commands';
import { runningJobs } from '../slurm/squeue';
import { runUntilSignalled } from '../util/daemon';
import { hardeningState } from '../util/harden';
import { logLine } from '../util/log';
import type { keeperMetrics } from '../metrics/keeper';
import { GlobalArgs, configFrom } from './common';

interface Args extends GlobalArgs {
  socket?: string;
  'state-dir'?: string;
  'ccache-dir'?: string;
  'node-name'?: string;
  'renew-margin'?: number;
  tick: number;
  'sweep-interval': number;
  sweep: boolean;
  'metrics-listen'?: string;
}

export const keeperCommand: CommandModule<GlobalArgs, Args> = {
  command: 'keeper',
  describe: 'Run the node keeper (as root): keeps job ccaches fresh, removes those of ended jobs',
  builder: (y) =>
    y
      .option('socket', { type: 'string', describe: 'unix socket for the plugin (config: keeper_socket)' })
      .option('state-dir', { type: 'string', describe: `where job records live (config: state_dir, default ${DEFAULT_NODE_STATE_DIR})` })
      .option('ccache-dir', { type: 'string', describe: 'where job ccaches are created (config: ccache_dir)' })
      .option('node-name', { type: 'string', describe: "this node's Slurm name (config: node_name, default the host name)" })
      .option('renew-margin', { type: 'number', describe: 'refresh a ccache this many seconds before its TGT expires (config: renew_margin; the keeper uses half of it)' })
      .option('tick', { type: 'number', default: 5, describe: 'seconds between refresh cycles' })
      .option('sweep-interval', { type: 'number', default: 300, describe: 'seconds between sweeps for ccaches of ended jobs (0: at start-up only)' })
      .option('sweep', { type: 'boolean', default: true, describe: 'sweep at all (--no-sweep: never, e.g. for benchmarks)' })
      .option('metrics-listen', { type: 'string', describe: 'serve Prometheus metrics on HOST:PORT/metrics (config: keeper_metrics_listen; default off)' }),
  handler: async (args) => {
    const config = configFrom(args, {
      keeper_socket: args.socket,
      state_dir: args['state-dir'],
      ccache_dir: args['ccache-dir'],
      node_name: args['node-name'],
      renew_margin: args['renew-margin'],
      keeper_metrics_listen: args['metrics-listen'],
      // --json: log lines as JSON objects, as log_format = json does.
      log_format: args.json ? 'json' : undefined,
    });
    if (config.refresh_command) checkRefreshCommand(config.refresh_command);
    const node = config.node_name ?? hostname().split('.')[0]!;
    const stateDir = config.state_dir ?? DEFAULT_NODE_STATE_DIR;
    // squeue by absolute path with a fixed environment (slurm_conf, else this process's SLURM_CONF).
    const squeue = slurmRunner({ slurmConf: config.slurm_conf, timeoutMs: config.timeout * 1000 });
    configureRenewals({ timeoutMs: config.kdc_timeout * 1000, concurrency: config.renew_concurrency, perSecond: config.renew_rate });
    // One kept, authenticated connection to the store for every fetch (keeper/storelink.ts).
    const link = new StoreLink(config, logLine);
    let metrics: ReturnType<typeof keeperMetrics> | undefined;
    const daemon = build({
      observe: (op, result, seconds) => metrics?.observe(op, result, seconds),
      socket: config.keeper_socket,
      stateDir,
      ccacheDir: config.ccache_dir,
      // Half the store's margin: the store renews first, the keeper then finds the fresher ticket.
      marginSeconds: Math.max(1, Math.floor(config.renew_margin / 2)),
      // The job id lets a job-bound store check that this job of uid runs on this node.
      fetch: (uid, job) => link.fetch(uid, job),
      renew: renewKrbCred,
      // The store makes its last renewal kdc_timeout + 2 s before the end; the keeper asks it for
      // the result up to 2 s before (a fetch takes milliseconds; cycles come as jobs fall due).
      lastAttemptLead: 2,
      runningJobs: () => runningJobs(squeue, node),
      refreshCommand: config.refresh_command,
      commandTimeoutMs: config.timeout * 1000,
      tickMs: Math.max(1, args.tick) * 1000,
      sweep: args.sweep,
      sweepIntervalMs: args['sweep-interval'] * 1000,
      log: logLine,
    });
    await daemon.listen();
    // prom-client is loaded only when metrics are on: every other verb starts without it.
    const m = config.keeper_metrics_listen ? { ...(await import('../metrics/keeper')), ...(await import('../metrics/http')) } : undefined;
    if (m) metrics = m.keeperMetrics(() => daemon.keeper.stats);
    const metricsServer = m && metrics && config.keeper_metrics_listen ? await m.serveMetrics(metrics.registry, config.keeper_metrics_listen, logLine) : undefined;
    logLine(`keeper listening on ${config.keeper_socket} (node ${node}, state ${stateDir}, ccaches ${config.ccache_dir}, store ${config.store} by ${link.describe()}; ${hardeningState()})`);
    await runUntilSignalled({ name: 'keeper', log: logLine, stopping: 'stopping; job ccaches stay, a restarted keeper takes them over', stop: async () => {
        await Promise.all([daemon.close(), metricsServer?.close()]);
        link.close();
      },
    });
  },
};
