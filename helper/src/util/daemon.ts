/**
 * The one signal loop of the daemons (serve, keeper, gateway): run until SIGTERM or SIGINT, then
 * stop cleanly (no new work, work in flight finished) and exit 0. A second signal while stopping
 * exits at once with status 1. Each step is one log line.
 */
export interface DaemonControl {
  /** What runs, for the log: "store", "keeper". */
  name: string;
  log: (line: string) => void;
  /** Stop accepting work and finish what is in flight. */
  stop: () => Promise<void>;
  /** Said when the signal arrives, after "<SIGNAL>: ". */
  stopping?: string;
}

export async function runUntilSignalled(d: DaemonControl): Promise<never> {
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        d.log(`${signal} again: exiting now`);
        process.exit(1);
      }
      stopping = true;
      d.log(`${signal}: ${d.stopping ?? `stopping the ${d.name}`}`);
      d.stop().then(
        () => resolve(),
        (e: unknown) => {
          d.log(`stopping the ${d.name} failed: ${(e as Error).message}`);
          resolve();
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  d.log('stopped');
  // koffi's worker threads and NSS may keep handles; the daemon is done.
  process.exit(0);
}
