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
