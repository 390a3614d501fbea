/**
 * Every line a daemon logs goes through logLine (and --verbose tracing through trace), on stderr,
 * one line per event. The line's level and its key=value fields are decided here, once:
 * - text (default): `<ISO time> krb5bridge <level>: <message>`; the message keeps its words and
 *   its `key=value` fields (`op=renew uid=1000 principal=... result=ok ...`), so people, grep,
 *   syslog and journald all read it. Under systemd (JOURNAL_STREAM set) the time is left to the
 *   journal and the line starts with the syslog priority (`<6>`), which journald files as the level.
 * - json (`log_format = json`, or `--json` on `serve` and `keeper`): one object per line,
 *   `{"time","level","msg", ...fields}`, the fields taken from the message's `key=value` words.
 * The level is the caller's, else decided from the message: `result=E_INTERNAL` is an error, any
 * other `result=E_...` or a "failed"/"cannot" a warning, the rest info.
 * Nothing secret reaches a log: callers never pass ticket bytes or keys, and, as a second lock,
 * anything shaped like a munge credential or a long base64 blob is replaced by `[redacted]`.
 */
export type LogLevel = 'error' | 'warning' | 'info' | 'debug';
export type LogFormat = 'text' | 'json';

let verbose = false;
let format: LogFormat = 'text';

export function setVerbose(on: boolean): void {
  verbose = on;
}

export function isVerbose(): boolean {
  return verbose;
}

export function setLogFormat(f: LogFormat): void {
  format = f;
}

export function logFormat(): LogFormat {
  return format;
}

/** syslog priorities (sd-daemon(3)): what journald reads from a `<N>` prefix. */
const PRIORITY: Record<LogLevel, number> = { error: 3, warning: 4, info: 6, debug: 7 };

/** A munge credential, or 44+ characters of base64 (a 32-byte key; any ticket is longer). */
const SECRET_SHAPES = [/MUNGE:[A-Za-z0-9+/=_-]*:?/g, /[A-Za-z0-9+/]{43,}={0,2}/g];

export function redact(message: string): string {
  let m = message;
  for (const re of SECRET_SHAPES) m = m.replace(re, '[redacted]');
  return m.replace(/[\r\n]+/g, ' ');
}

/** The level a message gets when its caller does not say. */
export function levelOf(message: string): LogLevel {
  if (/\bresult=E_INTERNAL\b/.test(message)) return 'error';
  if (/\bresult=E_[A-Z_]+/.test(message) || /\b(failed|cannot)\b/.test(message)) return 'warning';
  return 'info';
}

/** The message's `key=value` words (value up to the next space), in order; later keys win. */
export function fieldsOf(message: string): Record<string, string> {
  const fields: Record<string, string> = Object.create(null);
  for (const m of message.matchAll(/(?:^|\s)([a-z][a-z0-9_]*)=(\S*)/g)) {
    const key = m[1] as string;
    if (key === 'time' || key === 'level' || key === 'msg') continue;
    fields[key] = m[2] as string;
  }
  return fields;
}

/** The line logLine writes (without the newline), for a given time. */
export function formatLogLine(message: string, level: LogLevel, now: Date, journal: boolean, f: LogFormat = format): string {
  const msg = redact(message);
  if (f === 'json') return JSON.stringify({ time: now.toISOString(), level, msg, ...fieldsOf(msg) });
  if (journal) return `<${PRIORITY[level]}>krb5bridge ${level}: ${msg}`;
  return `${now.toISOString()} krb5bridge ${level}: ${msg}`;
}

/** Daemon log line: one event, its level (else decided from the message), on stderr. */
export function logLine(message: string, level: LogLevel = levelOf(message)): void {
  process.stderr.write(`${formatLogLine(message, level, new Date(), Boolean(process.env.JOURNAL_STREAM))}\n`);
}

/** Tracing for --verbose: one line per step on stderr, never a secret. */
export function trace(message: string): void {
  if (verbose) process.stderr.write(`krb5bridge: ${redact(message)}\n`);
}
