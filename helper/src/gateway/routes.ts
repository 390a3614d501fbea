/**
 * The gateway's routes, as one table (the server registers it, openapi.ts describes it): login
 * (password or SPNEGO) and logout, jobs (submit, list, show, cancel) through slurmrestd as the
 * user, the stored credential, the cluster's load, health and the OpenAPI document.
 *
 * Every job route checks, in order: the session (bearer token), that the user still has a local
 * account, and (submit) that the store holds a valid TGT for them; a user only ever sees and
 * cancels jobs Slurm says are theirs (user name and uid).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/config';
import { Krb5BridgeError } from '../errors';
import { showCreds } from '../client/client';
import type { KdcLogin } from '../krb5/password';
import type { SpnegoAcceptor } from '../krb5/spnego';
import type { Keytab } from '../krb5/keytab';
import type { Audit } from '../audit/audit';
import type { AccountResolver } from '../sys/accounts';
import { VERSION } from '../version';
import { JobRequest, clusterView, jobView, ownedBy, slurmSubmission } from './jobs';
import { mintJwt } from './jwt';
import type { LoginGuard } from './lockout';
import { negotiateLogin, negotiateToken } from './negotiate';
import { RouteDoc, openapiDocument } from './openapi';
import { passwordLogin } from './password';
import * as S from './schemas';
import type { Session, Sessions } from './sessions';
import { AsUser, SlurmRestd } from './slurmrestd';
import type { JobState } from './states';
import { validationMessage } from './validation';

export interface GatewayDeps {
  config: Config;
  kdc: KdcLogin;
  spnego: SpnegoAcceptor;
  /** The gateway's keytab, shared by kdc and spnego (closed last). */
  keytab: Keytab;
  sessions: Sessions;
  guard: LoginGuard;
  accounts: AccountResolver;
  restd: SlurmRestd;
  jwtKey: Buffer;
  audit: Audit;
  log: (line: string) => void;
  /** Each answered HTTP request: method, route pattern (never the URL), status, seconds (metrics, when on). */
  observe?: (method: string, route: string, status: number, seconds: number) => void;
}

export interface Route extends RouteDoc {
  handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
  /** Requests per minute per address on this route (default: gateway_request_rate). */
  perMinute?: number;
}

/** How long a positive "the store holds a valid TGT" answer is trusted before asking again. */
const STORE_CHECK_MS = 10_000;

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

/** The bearer token of a request, if it sent one. */
export function bearer(req: FastifyRequest): string | undefined {
  const m = /^Bearer ([A-Za-z0-9_-]{1,128})$/.exec(req.headers.authorization ?? '');
  return m ? m[1] : undefined;
}

export function routeTable(d: GatewayDeps): Route[] {
  const session = (req: FastifyRequest): Session => {
    const s = d.sessions.get(bearer(req));
    if (!s) throw new Krb5BridgeError('E_SESSION');
    return s;
  };
  const asUser = (s: Session): AsUser => ({ user: s.user, token: mintJwt(d.jwtKey, s.user) });

  /** slurmrestd accepts a token for a user unknown here, and the job would requeue forever. */
  const stillLocal = async (s: Session): Promise<void> => {
    const a = await d.accounts.of(s.user);
    if (!a || a.uid !== s.uid) throw new Krb5BridgeError('E_NO_ACCOUNT', `the account "${s.user}" (uid ${s.uid}) is gone from the cluster`);
  };

  /** The store must hold a TGT for the user that is still valid (the job gets it when it starts). */
  const storeHolds = async (s: Session): Promise<void> => {
    const now = Date.now();
    if (s.storeCheckedAt !== undefined && now - s.storeCheckedAt < STORE_CHECK_MS && (s.storeValidUntil ?? 0) > now + 60_000) return;
    const rec = await showCreds(d.config, s.uid, { role: 'user', ccache: s.ccache });
    if (rec.endtime * 1000 <= now + 60_000) throw new Krb5BridgeError('E_TICKET_EXPIRED', `the ticket the store holds for ${rec.principal} ends at ${iso(rec.endtime)}; log in again`);
    s.storeValidUntil = rec.endtime * 1000;
    s.storeCheckedAt = now;
  };

  /** The user's job `id` as Slurm reports it, or E_NO_SUCH_JOB (unknown and other users' alike). */
  const ownJob = async (s: Session, id: string): Promise<Record<string, unknown>> => {
    const a = await d.restd.request('GET', `/job/${id}`, asUser(s));
    SlurmRestd.check(a, `job ${id}`);
    const jobs = Array.isArray(a.body.jobs) ? (a.body.jobs as Record<string, unknown>[]) : [];
    const j = jobs.find((x) => String(x.job_id) === id) ?? jobs[0];
    if (!j || !ownedBy(j, s)) throw new Krb5BridgeError('E_NO_SUCH_JOB', `job ${id}`);
    return j;
  };

  const routes: Route[] = [
    {
      method: 'GET',
      url: '/healthz',
      summary: 'liveness: the gateway answers',
      auth: false,
      schema: { response: { 200: S.healthAnswer } },
      errors: [],
      handler: async () => ({ status: 'ok', version: VERSION }),
    },
    {
      method: 'POST',
      url: '/api/v1/login',
      summary: 'log in with {username, password}, or with Authorization: Negotiate (SPNEGO, a delegated ticket); answers a session token',
      auth: false,
      schema: { body: S.loginBody, response: { 200: S.loginAnswer } },
      errors: [400, 401, 403, 409, 503],
      perMinute: d.config.gateway_login_rate,
      handler: async (req, reply) => {
        const addr = req.ip;
        const neg = negotiateToken(req.headers.authorization);
        if (neg) {
          const r = await negotiateLogin(d, neg, addr);
          if (r.reply) void reply.header('WWW-Authenticate', `Negotiate ${r.reply.toString('base64')}`);
          d.log(`login ok principal=${r.session.principal} user=${r.session.user} mech=spnego peer=${addr} store=${r.action}`);
          return { token: r.token, expires: new Date(r.session.expires).toISOString(), principal: r.session.principal };
        }
        if ((req.headers.authorization ?? '').startsWith('Negotiate')) throw new Krb5BridgeError('E_AUTH', 'the Authorization: Negotiate header does not hold a base64 token');
        if (req.body === undefined || req.body === null) {
          void reply.header('WWW-Authenticate', 'Negotiate');
          throw new Krb5BridgeError('E_AUTH', 'log in with a JSON body {"username", "password"}, or with Kerberos (Authorization: Negotiate, e.g. curl --negotiate --delegation always -u :)');
        }
        if (req.validationError) throw new Krb5BridgeError('E_BAD_REQUEST', validationMessage(req.validationError));
        const { username, password } = req.body as { username: string; password: string };
        const r = await passwordLogin(d, username, password, addr);
        d.log(`login ok principal=${r.session.principal} user=${r.session.user} mech=password peer=${addr} store=${r.action}`);
        return { token: r.token, expires: new Date(r.session.expires).toISOString(), principal: r.session.principal };
      },
    },
    {
      method: 'POST',
      url: '/api/v1/logout',
      summary: 'end the session of this token (the ticket stays in the store for your jobs)',
      auth: true,
      schema: { response: { 200: S.logoutAnswer } },
      errors: [401],
      handler: async (req) => {
        const s = session(req);
        d.sessions.revoke(bearer(req));
        d.audit.record({ op: 'logout', result: 'ok', uid: s.uid, principal: s.principal, host: req.ip, mech: s.mech });
        return { logged_out: true };
      },
    },
    {
      method: 'POST',
      url: '/api/v1/jobs',
      summary: 'submit a batch job as you; it gets your Kerberos ticket on the compute node',
      auth: true,
      schema: { body: S.jobBody(d.config.gateway_max_script), response: { 201: S.submitAnswer } },
      errors: [400, 401, 403, 409, 413, 502, 503],
      handler: async (req, reply) => {
        const s = session(req);
        await stillLocal(s);
        await storeHolds(s);
        const body = req.body as JobRequest;
        let jobId: number;
        try {
          const a = await d.restd.request('POST', '/job/submit', asUser(s), slurmSubmission(body, s));
          SlurmRestd.check(a, 'submitting the job');
          jobId = Number(a.body.job_id);
          if (!Number.isInteger(jobId) || jobId <= 0) throw new Krb5BridgeError('E_SLURMRESTD', `slurmrestd answered the submission without a job id`);
        } catch (e) {
          d.audit.record({ op: 'submit', result: 'error', code: e instanceof Krb5BridgeError ? e.code : 'E_INTERNAL', uid: s.uid, principal: s.principal, host: req.ip, mech: s.mech });
          throw e;
        }
        d.audit.record({ op: 'submit', result: 'ok', uid: s.uid, principal: s.principal, host: req.ip, job: String(jobId), mech: s.mech });
        d.log(`submit ok user=${s.user} job=${jobId} peer=${req.ip}`);
        void reply.code(201);
        return { job_id: jobId };
      },
    },
    {
      method: 'GET',
      url: '/api/v1/jobs',
      summary: 'your jobs that Slurm still knows (optionally only those in one state)',
      auth: true,
      schema: { querystring: S.jobsQuery, response: { 200: S.jobList } },
      errors: [400, 401, 403, 502],
      handler: async (req) => {
        const s = session(req);
        await stillLocal(s);
        const a = await d.restd.request('GET', '/jobs', asUser(s));
        SlurmRestd.check(a, 'listing jobs');
        const want = (req.query as { state?: JobState }).state;
        const jobs = (Array.isArray(a.body.jobs) ? (a.body.jobs as Record<string, unknown>[]) : []).filter((j) => ownedBy(j, s)).map(jobView);
        return { jobs: want ? jobs.filter((j) => j.state === want) : jobs };
      },
    },
    {
      method: 'GET',
      url: '/api/v1/jobs/:id',
      summary: 'one of your jobs',
      auth: true,
      schema: { params: S.jobParams, response: { 200: S.jobView } },
      errors: [400, 401, 403, 404, 502],
      handler: async (req) => {
        const s = session(req);
        await stillLocal(s);
        return jobView(await ownJob(s, (req.params as { id: string }).id));
      },
    },
    {
      method: 'DELETE',
      url: '/api/v1/jobs/:id',
      summary: 'cancel one of your jobs',
      auth: true,
      schema: { params: S.jobParams, response: { 200: S.cancelAnswer } },
      errors: [400, 401, 403, 404, 502],
      handler: async (req) => {
        const s = session(req);
        await stillLocal(s);
        const { id } = req.params as { id: string };
        try {
          await ownJob(s, id);
          const a = await d.restd.request('DELETE', `/job/${id}`, asUser(s));
          SlurmRestd.check(a, `cancelling job ${id}`);
        } catch (e) {
          d.audit.record({ op: 'cancel', result: 'refused', code: e instanceof Krb5BridgeError ? e.code : 'E_INTERNAL', uid: s.uid, principal: s.principal, host: req.ip, job: id, mech: s.mech });
          throw e;
        }
        d.audit.record({ op: 'cancel', result: 'ok', uid: s.uid, principal: s.principal, host: req.ip, job: id, mech: s.mech });
        d.log(`cancel ok user=${s.user} job=${id} peer=${req.ip}`);
        return { job_id: Number(id), cancelled: true };
      },
    },
    {
      method: 'GET',
      url: '/api/v1/credential',
      summary: 'the ticket the store holds for you (it renews it while your jobs need it)',
      auth: true,
      schema: { response: { 200: S.credentialAnswer } },
      errors: [401, 409, 503],
      handler: async (req) => {
        const s = session(req);
        const rec = await showCreds(d.config, s.uid, { role: 'user', ccache: s.ccache });
        return { principal: rec.principal, expires: iso(rec.endtime), renew_until: rec.renew_till > 0 ? iso(rec.renew_till) : null, stored_at: rec.stored_at > 0 ? iso(rec.stored_at) : null };
      },
    },
    {
      method: 'GET',
      url: '/api/v1/cluster',
      summary: "the cluster's partitions, nodes, and cores and memory in use",
      auth: true,
      schema: { response: { 200: S.clusterAnswer } },
      errors: [401, 502],
      handler: async (req) => {
        const s = session(req);
        const as = asUser(s);
        const [p, n] = await Promise.all([d.restd.request('GET', '/partitions', as), d.restd.request('GET', '/nodes', as)]);
        SlurmRestd.check(p, 'listing partitions');
        SlurmRestd.check(n, 'listing nodes');
        const list = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? (v as Record<string, unknown>[]) : []);
        return clusterView(list(p.body.partitions), list(n.body.nodes));
      },
    },
  ];
  const doc = openapiDocument([
    ...routes,
    { method: 'GET', url: '/api/v1/openapi.json', summary: 'this description', auth: false, schema: { response: {} }, errors: [] },
  ]);
  routes.push({
    method: 'GET',
    url: '/api/v1/openapi.json',
    summary: 'this description (OpenAPI 3.1)',
    auth: false,
    schema: { response: {} },
    errors: [],
    handler: async () => doc,
  });
  return routes;
}
