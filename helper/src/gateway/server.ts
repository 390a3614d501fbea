/**
 * The gateway's HTTPS server (fastify): TLS only (certificate and key from the config, the key
 * through the trusted-path check; no plain-HTTP listener exists), body and field limits, request
 * timeouts, rate limits per address (@fastify/rate-limit; logins tighter), strict JSON schemas
 * (unknown fields refused, no coercion), and one error handler that answers every failure as
 * `{code, message, remedy}` (errors.ts). Built, then started (`listen`), as the store is.
 */
import type { AddressInfo } from 'node:net';
import Fastify, { FastifyError, FastifyInstance } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { Krb5BridgeError, isKrb5BridgeError } from '../errors';
import { parseAddress } from '../config/config';
import { errorReply } from './errors';
import { RetryLater } from './password';
import { readTlsCert, readTlsKey } from './tls';
import { GatewayDeps, routeTable } from './routes';
import { validationMessage } from './validation';

/** The answer for errors fastify itself raises (bad JSON, body too large, schema, poisoned JSON). */
function fromFastify(e: FastifyError, maxScript: number): Krb5BridgeError | undefined {
  if (e.validation) return new Krb5BridgeError('E_BAD_REQUEST', validationMessage(e));
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new Krb5BridgeError('E_TOO_LARGE', `the request body is too large: field "script" may hold at most ${maxScript} bytes`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new Krb5BridgeError('E_BAD_REQUEST', 'send the body as JSON (Content-Type: application/json)');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new Krb5BridgeError('E_BAD_REQUEST', 'the body is empty; send a JSON object');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new Krb5BridgeError('E_BAD_REQUEST', 'the Content-Length does not match the body');
  }
  if (e instanceof SyntaxError || e.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return new Krb5BridgeError('E_BAD_REQUEST', `the body is not valid JSON: ${e.message.slice(0, 200)}`);
  if (/prototype/i.test(e.message) && e.statusCode === 400) return new Krb5BridgeError('E_BAD_REQUEST', 'the body may not hold "__proto__" or "constructor" keys');
  if (e.statusCode === 404) return new Krb5BridgeError('E_BAD_REQUEST', 'no such route; GET /api/v1/openapi.json lists them');
  return undefined;
}

export interface Gateway {
  app: FastifyInstance;
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

export async function buildGateway(d: GatewayDeps): Promise<Gateway> {
  const { config } = d;
  if (!config.gateway_cert || !config.gateway_key) {
    throw new Krb5BridgeError('E_CONFIG', 'the gateway serves HTTPS only: set gateway_cert and gateway_key (PEM files; the key 0600 root)');
  }
  const maxScript = config.gateway_max_script;
  const app = Fastify({
    https: {
      cert: readTlsCert(config.gateway_cert),
      key: readTlsKey(config.gateway_key),
      minVersion: 'TLSv1.2',
    },
    logger: false,
    // The script plus the other fields and JSON escaping.
    bodyLimit: maxScript * 2 + 64 * 1024,
    connectionTimeout: 120_000,
    requestTimeout: 120_000,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
  });
  await app.register(rateLimit, {
    global: true,
    max: config.gateway_request_rate,
    timeWindow: 60_000,
    keyGenerator: (req) => req.ip,
    errorResponseBuilder: (_req, ctx) => new RetryLater('E_RATE_LIMITED', Math.max(1, Math.ceil(ctx.ttl / 1000)), `more than ${ctx.max} requests per minute from this address`),
  });
  app.setErrorHandler((e: FastifyError, _req, reply) => {
    const known = isKrb5BridgeError(e) ? e : fromFastify(e, maxScript);
    if (!known) d.log(`internal error: ${e.message}`);
    if (e instanceof RetryLater) void reply.header('Retry-After', String(e.retryAfter));
    const { status, body } = errorReply(known ?? e);
    void reply.code(status).send(body);
  });
  // By the route's pattern: a job id or a mistyped URL never becomes a series of its own.
  const { observe } = d;
  if (observe) app.addHook('onResponse', async (req, reply) => observe(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000));
  app.setNotFoundHandler((req, reply) => {
    const { body } = errorReply(new Krb5BridgeError('E_BAD_REQUEST', `no route ${req.method} ${req.url.split('?')[0]!.slice(0, 200)}; GET /api/v1/openapi.json lists them`));
    void reply.code(404).send(body);
  });
  for (const r of routeTable(d)) {
    app.route({
      method: r.method,
      url: r.url,
      schema: r.schema,
      // login validates its body itself: a SPNEGO login has none.
      attachValidation: r.url === '/api/v1/login',
      config: r.perMinute ? { rateLimit: { max: r.perMinute, timeWindow: 60_000 } } : {},
      handler: r.handler,
    });
  }
  await app.ready();
  const { host, port } = parseAddress(config.gateway_listen, 'gateway_listen');
  return {
    app,
    async listen() {
      await app.listen({ host, port });
      return app.server.address() as AddressInfo;
    },
    async close() {
      await app.close();
      d.restd.close();
      d.sessions.close();
      d.spnego.close();
      d.keytab.close();
      d.audit.close();
    },
  };
}
