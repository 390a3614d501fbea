/**
 * The request schemas with the validator fastify uses (ajv 8, as the gateway configures it: no
 * coercion, nothing removed), and the one-sentence messages that name the field.
 */
import { jobBody, jobsQuery, loginBody } from '../../../helper/src/gateway/schemas';
import { validationMessage } from '../../../helper/src/gateway/validation';
import { HTTP_STATUS, errorReply } from '../../../helper/src/gateway/errors';
import { ERRORS, Krb5BridgeError } from '../../../helper/src/errors';
import { openapiDocument } from '../../../helper/src/gateway/openapi';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const Ajv = require(require.resolve('ajv', { paths: [require.resolve('@fastify/ajv-compiler')] })).default;
const ajv = new Ajv({ removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false, strict: false });

function message(schema: object, data: unknown, context = 'body'): string | undefined {
  const v = ajv.compile(schema);
  if (v(data)) return undefined;
  return validationMessage(Object.assign(new Error('x'), { validation: v.errors, validationContext: context }));
}

describe('gateway request schemas', () => {
  const job = jobBody(1000);
  test('a full, valid submission passes', () => {
    expect(message(job, { script: '#!/bin/sh\n', name: 'n', partition: 'debug', cpus: 2, memory_mb: 100, time_limit_minutes: 5, working_directory: '/home/a', stdout: 'o-%j', stderr: 'e', environment: { A_1: 'x' }, array: '1-10%2' })).toBeUndefined();
  });
  test.each([
    [{ script: '#!/bin/sh\n', extra: 1 }, 'unknown field "extra"'],
    [{}, 'missing field "script"'],
    [{ script: 5 }, 'field "script" must be string'],
    [{ script: '#!/bin/sh\n', cpus: 1.5 }, 'field "cpus" must be integer'],
    [{ script: '#!/bin/sh\n', cpus: '2' }, 'field "cpus" must be integer'],
    [{ script: `#!${'x'.repeat(1000)}` }, 'field "script" is longer than 1000 characters'],
    [{ script: 'no shebang' }, 'field "script" must start with "#!" (an interpreter line such as #!/bin/sh)'],
    [{ script: '#!/bin/sh\n', working_directory: 'relative' }, 'field "working_directory" has a value of the wrong form (^/[^\\u0000-\\u001f\\u007f]*$)'],
    [{ script: '#!/bin/sh\n', name: 'a\nb' }, 'field "name" has a value of the wrong form (^[^\\u0000-\\u001f\\u007f]*$)'],
    [{ script: '#!/bin/sh\n', environment: { 'A B': 'x' } }, 'field "environment" has a name that is not a variable name (letters, digits, _): "A B"'],
    [{ script: '#!/bin/sh\n', environment: { A: 1 } }, 'field "environment.A" must be string'],
    [{ script: '#!/bin/sh\n', array: '1-3; rm -rf /' }, 'field "array" has a value of the wrong form (^[0-9][0-9,:%-]{0,255}$)'],
    [[], 'the body must be a JSON object'],
  ])('%j: %s', (data, expected) => expect(message(job, data)).toBe(expected));

  test('login and the state filter', () => {
    expect(message(loginBody, { username: 'a', password: 'b', otp: 1 })).toBe('unknown field "otp"');
    expect(message(loginBody, { username: 'a' })).toBe('missing field "password"');
    expect(message(jobsQuery, { state: 'done' }, 'querystring')).toBe('query parameter "state" must be one of queued, running, completed, failed, cancelled, timeout');
  });
});

describe('gateway errors', () => {
  test('every gateway code has its HTTP status; answers are {code, message, remedy} without a stack', () => {
    for (const code of ['E_LOGIN_FAILED', 'E_LOCKED_OUT', 'E_NO_ACCOUNT', 'E_SESSION', 'E_NO_DELEGATION', 'E_SLURMRESTD', 'E_SLURM_REFUSED', 'E_BAD_REQUEST', 'E_NO_SUCH_JOB', 'E_RATE_LIMITED'] as const) {
      expect(ERRORS[code]).toBeDefined();
      expect(HTTP_STATUS[code]).toBeGreaterThanOrEqual(400);
    }
    expect(errorReply(new Krb5BridgeError('E_NO_ACCOUNT', 'x maps to nobody'))).toEqual({
      status: 403,
      body: { code: 'E_NO_ACCOUNT', message: 'this principal has no local account on the cluster, so it cannot run jobs: x maps to nobody', remedy: 'ask the site administrators for an account' },
    });
    const internal = errorReply(new TypeError('secret detail at /x/y.ts:12'));
    expect(internal).toEqual({ status: 500, body: { code: 'E_INTERNAL', message: 'internal error', remedy: 'please report it with the --verbose output' } });
    expect(errorReply(new Krb5BridgeError('E_STORE_UNREACHABLE', 'x')).status).toBe(503);
    expect(errorReply(new Krb5BridgeError('E_KDC_UNREACHABLE', 'x')).status).toBe(503);
    expect(errorReply(new Krb5BridgeError('E_SLURMRESTD', 'x')).status).toBe(502);
  });

  test('the OpenAPI document describes a route with its schemas and error answers', () => {
    const doc = openapiDocument([{ method: 'GET', url: '/api/v1/jobs/:id', summary: 's', auth: true, schema: { params: { type: 'object', properties: { id: { type: 'string' } } }, response: { 200: { type: 'object' } } }, errors: [404] }]) as {
      paths: Record<string, Record<string, { parameters: unknown[]; responses: Record<string, unknown>; security: unknown }>>;
    };
    const op = doc.paths['/api/v1/jobs/{id}']!.get!;
    expect(op.parameters).toEqual([{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }]);
    expect(Object.keys(op.responses).sort()).toEqual(['200', '404', '429', '500']);
    expect(op.security).toEqual([{ bearer: [] }]);
  });
});
