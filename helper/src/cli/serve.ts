/** `krb5bridge serve` (root): the credential store daemon. */
import type { CommandModule } from 'yargs';
import { DEFAULT_STORE_STATE_DIR } from '../config/config';
import { openAuditLog } from '../audit/audit';
import { configureRenewals, hostServicePrincipal, renewKrbCred } from '../krb5';
import { loadPolicyFile } from '../policy/policyfile';
import { Renewer } from '../renewer/renewer';
import { build } from '../server/store';
import { runUntilSignalled } from '../util/daemon';
import { raiseOpenFileLimit } from '../util/fdlimit';
import { hardeningState } from '../util/harden';
import { logLine } from '../util/log';
import type { storeMetrics } from '../metrics/store';
import { GlobalArgs, configFrom } from './common';

interface Args extends GlobalArgs {
  listen?: string;
  'state-dir'?: string;
  'min-uid'?: number;
  'max-connections'?: number;
  'renew-margin'?: number;
  acl?: string;
  'key-file'?: string;
  'audit-log'?: string;
  'job-bound'?: string;
  'slurm-conf'?: string;
  'metrics-listen'?: string;
}

export const serveCommand: CommandModule<GlobalArgs, Args> = {
  command: 'serve',
  describe: 'Run the credential store (as root)',
  builder: (y) =>
    y
      .option('listen', { type: 'string', describe: 'address to listen on, HOST:PORT (config: listen)' })
      .option('state-dir', { type: 'string', describe: `where credentials persist (config: state_dir, default ${DEFAULT_STORE_STATE_DIR})` })
      .option('min-uid', { type: 'number', describe: 'lowest uid whose credentials are accepted (config: min_uid, default 1000)' })
      .option('max-connections', { type: 'number', default: 16384, describe: 'open connections beyond this are refused (each node keeper keeps one open: at least the number of nodes; bounded by the open-file limit)' })
      .option('renew-margin', { type: 'number', describe: 'renew each stored TGT this many seconds before it expires (config: renew_margin, default 600)' })
      .option('acl', { type: 'string', describe: 'access policy file (config: acl; default: root is node+admin, uids >= min_uid are users)' })
      .option('key-file', { type: 'string', describe: 'root-only key file for encryption at rest, created if missing (config: key_file, default /etc/krb5bridge/store.key)' })
      .option('audit-log', { type: 'string', describe: 'append one JSON line per request to this file (config: audit_log; default none)' })
      .option('job-bound', { type: 'string', choices: ['yes', 'no'], describe: 'release a credential only to a node running a job of its user (config: job_bound, default yes)' })
      .option('slurm-conf', { type: 'string', describe: 'slurm.conf for the job checks (config: slurm_conf; default SLURM_CONF, else Slurm\'s)' })
      .option('metrics-listen', { type: 'string', describe: 'serve Prometheus metrics on HOST:PORT/metrics (config: metrics_listen; default off)' }),
  handler: async (args) => {
    const config = configFrom(args, {
      listen: args.listen,
      state_dir: args['state-dir'],
      min_uid: args['min-uid'],
      renew_margin: args['renew-margin'],
      acl: args.acl,
      key_file: args['key-file'],
      audit_log: args['audit-log'],
      job_bound: args['job-bound'],
      slurm_conf: args['slurm-conf'],
      metrics_listen: args['metrics-listen'],
      // --json: log lines as JSON objects, as log_format = json does.
      log_format: args.json ? 'json' : undefined,
    });
    // Read before anything listens: a bad policy or an unsafe audit file stops the start.
    const policy = config.acl ? await loadPolicyFile(config.acl) : undefined;
    const audit = config.audit_log ? openAuditLog(config.audit_log, logLine) : undefined;
    // Metrics are made before the store so its first request is counted; served once it listens.
    let metrics: ReturnType<typeof storeMetrics> | undefined;
    // A connection per node: as many open files as the system lets this process have.
    const files = raiseOpenFileLimit();
    const maxConnections = Math.min(args['max-connections'] ?? 16384, Math.max(64, files - 256));
    if (maxConnections < (args['max-connections'] ?? 16384)) logLine(`at most ${maxConnections} connections: the open-file limit is ${files} (raise LimitNOFILE / ulimit -n for more nodes)`);
    const store = await build({
      observe: (op, result, seconds) => metrics?.observe(op, result, seconds),
      listen: config.listen,
      stateDir: config.state_dir ?? DEFAULT_STORE_STATE_DIR,
      minUid: config.min_uid,
      storage: config.storage,
      etcd: config.etcd_endpoints
        ? {
            endpoints: config.etcd_endpoints,
            ca: config.etcd_ca,
            cert: config.etcd_cert,
            key: config.etcd_key,
            prefix: config.etcd_prefix,
            leaseTtl: config.etcd_lease_ttl,
            // A quarter of the client's timeout: a push refused for want of quorum is said before the client gives up.
            timeoutMs: Math.max(1000, config.timeout * 250),
          }
        : undefined,
      mungeSocket: config.munge_socket,
      // A keytab makes the store accept krb5 clients too (docs/internals.md, "krb5 mode").
      krb5: config.keytab ? { principal: config.store_principal ?? hostServicePrincipal('krb5bridge'), keytab: config.keytab } : undefined,
      maxConnections,
      log: logLine,
      keyFile: config.key_file,
      policy,
      audit,
      // Half the client's timeout: a node hears "slurmctld unreachable", never a timeout of its own.
      jobCheck: config.job_bound === 'yes' ? { slurmConf: config.slurm_conf, timeoutMs: Math.max(1000, config.timeout * 500) } : undefined,
    });
    // prom-client is loaded only when metrics are on: every other verb starts without it.
    const m = config.metrics_listen ? { ...(await import('../metrics/store')), ...(await import('../metrics/http')) } : undefined;
    if (m) metrics = m.storeMetrics(store.records);
    const addr = await store.listen();
    const metricsServer = m && metrics && config.metrics_listen ? await m.serveMetrics(metrics.registry, config.metrics_listen, logLine) : undefined;
    const shown = addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
    // Renewal at the KDC (KRB5_CONFIG says where): one request per user per cycle (docs/keeper.md).
    configureRenewals({ timeoutMs: config.kdc_timeout * 1000, concurrency: config.renew_concurrency, perSecond: config.renew_rate });
    const renewer = new Renewer({
      records: store.records,
      log: logLine,
      marginSeconds: config.renew_margin,
      renew: renewKrbCred,
      audit: metrics ? metrics.renewals(store.audit) : store.audit,
      lastAttemptLead: config.kdc_timeout + 2,
      // Several stores on etcd: only the elected one renews.
      leadership: store.records.leadership,
    });
    renewer.start();
    logLine(`listening on ${shown} (${store.records.description}, min_uid ${config.min_uid}, munge socket ${config.munge_socket ?? 'libmunge default'}${config.keytab ? `, krb5 as ${config.store_principal ?? hostServicePrincipal('krb5bridge')} with keytab ${config.keytab}` : ''}; policy ${policy?.source ?? 'default'}, job-bound fetch ${config.job_bound}, key file ${config.key_file}, audit log ${config.audit_log ?? 'off'}; ${hardeningState()})`);
    await runUntilSignalled({
      name: 'store',
      log: logLine,
      stopping: 'no new connections; finishing requests in flight',
      stop: async () => {
        await Promise.all([renewer.stop(), store.close(), metricsServer?.close()]);
      },
    });
  },
};
