/** Tracing for --verbose: one line per step on stderr, never a secret. */
let verbose = false;

export function setVerbose(on: boolean): void {
  verbose = on;
}

export function isVerbose(): boolean {
  return verbose;
}

export function trace(message: string): void {
  if (verbose) process.stderr.write(`krb5bridge: ${message}\n`);
}

/** Daemon log line: ISO time, then the message. */
export function logLine(message: string): void {
  process.stderr.write(`${new Date().toISOString()} krb5bridge: ${message}\n`);
}
