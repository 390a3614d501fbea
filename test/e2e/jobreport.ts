/**
 * What a job reports about its own Kerberos credential, parsed. The job runs REPORT_SCRIPT (a plain
 * sh script) and the test asserts on the parsed result.
 */
export const REPORT_SCRIPT = [
  'echo "JOB=$SLURM_JOB_ID"',
  'echo "CC=${KRB5CCNAME:-none}"',
  'f=${KRB5CCNAME#FILE:}',
  '[ -n "$KRB5CCNAME" ] && stat -c "STAT=%U %a %F %h" "$f"',
  'klist 2>&1 | sed -n "s/^Default principal: /PRINCIPAL=/p"',
  'kvno host/localhost >/dev/null 2>&1 && echo KVNO=ok || echo KVNO=failed',
].join('; ');

export interface JobReport {
  job: string;
  ccache: string;
  /** "owner mode type links" from stat, e.g. "alice 600 regular file 1". */
  stat: string;
  principal: string;
  kvno: string;
}

export function parseReport(stdout: string): JobReport {
  const get = (k: string): string => new RegExp(`^${k}=(.*)$`, 'm').exec(stdout)?.[1] ?? '';
  return { job: get('JOB'), ccache: get('CC'), stat: get('STAT'), principal: get('PRINCIPAL'), kvno: get('KVNO') };
}

/** All reports in one output (several steps print one each). */
export function parseReports(stdout: string): JobReport[] {
  return stdout
    .split(/(?=^JOB=)/m)
    .filter((s) => s.startsWith('JOB='))
    .map(parseReport);
}

/**
 * A job that waits (up to `limit` seconds) until its Kerberos credential is valid, as a user's
 * program would, then says when: `CC=... START=<epoch s>` first, `VALID=yes|no AT=<epoch s.ns>`
 * last. What the plugin told it at task start is in its stderr.
 */
export function waitScript(limit: number): string {
  return [
    'echo "CC=${KRB5CCNAME:-none} START=$(date +%s)"',
    `end=$(($(date +%s) + ${limit}))`,
    'while ! klist -s && [ "$(date +%s)" -lt "$end" ]; do sleep 0.5; done',
    'echo "VALID=$(klist -s && echo yes || echo no) AT=$(date +%s.%N)"',
  ].join('; ');
}

export interface WaitReport {
  ccache: string;
  valid: boolean;
  /** When the job first saw a valid credential (ms since the epoch); NaN if it never did. */
  at: number;
}

export function parseWait(stdout: string): WaitReport | undefined {
  const cc = /^CC=(\S*) START=\d+$/m.exec(stdout);
  const v = /^VALID=(yes|no) AT=(\d+\.\d+)$/m.exec(stdout);
  if (!cc || !v) return undefined;
  return { ccache: cc[1] ?? '', valid: v[1] === 'yes', at: v[1] === 'yes' ? Math.round(Number(v[2]) * 1000) : NaN };
}

/** The lines of a job's output (or stderr) that the plugin wrote. */
export const krb5bridgeLines = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('krb5bridge: '));
