/**
 * /api/v1/openapi.json, generated from the route table (routes.ts) and its schemas (schemas.ts):
 * the same objects fastify validates and serializes with, so the description cannot drift from
 * the server. Written here rather than with @fastify/swagger: a page of code instead of a
 * dependency tree, and the document is exactly ours. OpenAPI 3.1 (its schemas are JSON Schema).
 */
import { VERSION } from '../version';
import { errorSchema } from './schemas';

export interface RouteDoc {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  summary: string;
  /** Needs a bearer token (a session). */
  auth: boolean;
  schema: {
    body?: object;
    querystring?: object;
    params?: object;
    response: Record<number, object>;
  };
  /** Error statuses this route can answer (besides 429, 500 for all). */
  errors: number[];
}

const STATUS_WORDS: Record<number, string> = {
  400: 'bad request (the message names the field)',
  401: 'not authenticated (E_SESSION, E_LOGIN_FAILED, E_AUTH, E_NO_DELEGATION)',
  403: 'no local account (E_NO_ACCOUNT)',
  404: 'no such job of yours',
  409: 'the store holds no valid ticket for you: log in again',
  413: 'request body too large (the script is limited)',
  429: 'too many requests or locked out: see Retry-After',
  500: 'internal error',
  502: 'slurmrestd unreachable or refused the gateway',
  503: 'the credential store or the KDC is unreachable',
};

/** OpenAPI paths use {id}; fastify routes use :id. */
function openapiPath(url: string): string {
  return url.replace(/:([A-Za-z_]+)/g, '{$1}');
}

function parameters(where: 'query' | 'path', schema: object | undefined): object[] {
  const s = schema as { properties?: Record<string, object>; required?: string[] } | undefined;
  return Object.entries(s?.properties ?? {}).map(([name, sch]) => ({ name, in: where, required: where === 'path' || (s?.required ?? []).includes(name), schema: sch }));
}

export function openapiDocument(routes: RouteDoc[]): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const r of routes) {
    const responses: Record<string, object> = {};
    for (const [status, schema] of Object.entries(r.schema.response)) {
      responses[status] = { description: 'success', content: { 'application/json': { schema } } };
    }
    for (const status of [...r.errors, 429, 500]) {
      responses[String(status)] = { description: STATUS_WORDS[status] ?? 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    const op: Record<string, unknown> = {
      summary: r.summary,
      parameters: [...parameters('path', r.schema.params), ...parameters('query', r.schema.querystring)],
      responses,
    };
    if (r.schema.body) op.requestBody = { required: r.url !== '/api/v1/login', content: { 'application/json': { schema: r.schema.body } } };
    if (r.auth) op.security = [{ bearer: [] }];
    if (r.url === '/api/v1/login') op.security = [{}, { negotiate: [] }];
    (paths[openapiPath(r.url)] ??= {})[r.method.toLowerCase()] = op;
  }
  const { $id: _id, ...error } = errorSchema;
  return {
    openapi: '3.1.0',
    info: {
      title: 'krb5bridge gateway',
      version: VERSION,
      description: 'Submit Slurm jobs from a laptop with Kerberos credentials: log in (password or SPNEGO), submit, list, cancel. See docs/gateway.md.',
    },
    paths,
    components: {
      schemas: { Error: error },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'the token POST /api/v1/login answered' },
        negotiate: { type: 'http', scheme: 'negotiate', description: 'SPNEGO with a delegated Kerberos ticket (curl --negotiate --delegation always)' },
      },
    },
  };
}
