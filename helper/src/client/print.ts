/** Output of the client verbs: lines on stdout that survive a closed pipe (`krb5bridge list | head`). */
import type { RecordInfo } from '../wire/messages';

let guarded = false;

/** A reader that went away (EPIPE) ends the program quietly with status 0, not with a stack trace. */
export function guardStdout(): void {
  if (guarded) return;
  guarded = true;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

export function out(line: string): void {
  guardStdout();
  process.stdout.write(line.endsWith('\n') ? line : `${line}\n`);
}

export function outJson(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/** Unix seconds -> `2026-11-22T08:20:41Z`. */
export function isoTime(seconds: number): string {
  return seconds > 0 ? new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') : '-';
}

export function recordTable(records: RecordInfo[]): string {
  const rows = [['UID', 'PRINCIPAL', 'EXPIRES', 'RENEW UNTIL', 'STORED']];
  for (const r of records) rows.push([String(r.uid), r.principal, isoTime(r.endtime), isoTime(r.renew_till), isoTime(r.stored_at)]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}
