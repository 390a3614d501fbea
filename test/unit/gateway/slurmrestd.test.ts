/**
 * slurmrestd's answers (shapes captured from Slurm 22.05's openapi/v0.0.38 here) turned into
 * what happened. The live paths are in test/e2e/gateway*.test.ts.
 */
import { SlurmRestd } from '../../../helper/src/gateway/slurmrestd';

const fail = (status: number, errors: object[]): string => {
  try {
    SlurmRestd.check({ status, body: { meta: {}, errors } }, 'listing jobs');
  } catch (e) {
    return `${(e as { code: string }).code}: ${(e as Error).message}`;
  }
  return 'ok';
};

describe("slurmrestd's answers", () => {
  test('success is success', () => expect(fail(200, [])).toBe('ok'));

  test('its bare "Unspecified error" (a token slurmctld refused) says so', () => {
    expect(fail(500, [{ description: 'Failed while looking for jobs', error_number: -1, error: 'Unspecified error', source: 'slurm_load_jobs' }])).toBe(
      "E_SLURMRESTD: slurmrestd cannot be reached or gave no usable answer; try again later or tell the site administrators: listing jobs: slurmrestd answered HTTP 500 \"Unspecified error\": slurmctld refused the gateway's token (jwt_key differs from slurmctld's AuthAltParameters, AuthAltTypes=auth/jwt missing, or the clocks differ); see slurmctld's log",
    );
    expect(fail(500, [])).toMatch(/^E_SLURMRESTD: .*refused the gateway's token/);
  });

  test("Slurm's own refusals are the user's to fix, in Slurm's words", () => {
    expect(fail(500, [{ error_code: 2000, error: 'Invalid partition name specified' }])).toBe('E_SLURM_REFUSED: Slurm refused the request; fix what the message names: listing jobs: Invalid partition name specified');
    expect(fail(400, [{ error: 'environment must be set', error_code: 2127 }, { error_code: 9001, error: 'Failure during parsing' }])).toBe(
      'E_SLURM_REFUSED: Slurm refused the request; fix what the message names: listing jobs: environment must be set; Failure during parsing',
    );
  });

  test('an unknown job is E_NO_SUCH_JOB', () => {
    expect(fail(500, [{ description: 'Unable to find JobId=99', error_number: 2017, error: 'Invalid job id specified', source: 'slurm_load_job' }])).toBe('E_NO_SUCH_JOB: you have no job with this id; GET /api/v1/jobs lists yours: listing jobs: Slurm knows no such job');
  });
});
