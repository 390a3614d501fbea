/**
 * The JSON schemas of every route (requests and answers): fastify validates requests with them
 * (ajv: unknown fields refused, no type coercion) and serializes answers with them, and
 * openapi.ts turns the same objects into /api/v1/openapi.json, so the description cannot drift
 * from what the server does.
 */
import { JOB_STATES } from './states';

/** Things every free-text field may not hold: control characters (they reach logs and Slurm). */
const NO_CONTROL = '^[^\\u0000-\\u001f\\u007f]*$';

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  description: 'Every failure: a stable code (docs/gateway.md lists each with its HTTP status), what happened, what to do.',
  properties: {
    code: { type: 'string' },
    message: { type: 'string' },
    remedy: { type: 'string' },
  },
  required: ['code', 'message', 'remedy'],
} as const;

export const loginBody = {
  type: 'object',
  additionalProperties: false,
  required: ['username', 'password'],
  properties: {
    username: { type: 'string', minLength: 1, maxLength: 64, description: 'your user name (your Kerberos principal without the realm)' },
    password: { type: 'string', minLength: 1, maxLength: 1024, description: 'your Kerberos password; used once to get your ticket, never stored' },
  },
} as const;

export const loginAnswer = {
  type: 'object',
  properties: {
    token: { type: 'string', description: 'bearer token: send "Authorization: Bearer TOKEN"' },
    expires: { type: 'string', format: 'date-time', description: 'when the token ends (never after your ticket)' },
    principal: { type: 'string' },
  },
  required: ['token', 'expires', 'principal'],
} as const;

export function jobBody(maxScript: number) {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['script'],
    properties: {
      script: { type: 'string', minLength: 3, maxLength: maxScript, pattern: '^#!', description: 'the batch script; its first line names the interpreter (#!/bin/sh)' },
      name: { type: 'string', minLength: 1, maxLength: 200, pattern: NO_CONTROL },
      partition: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
      cpus: { type: 'integer', minimum: 1, maximum: 1000000, description: 'CPUs per task' },
      memory_mb: { type: 'integer', minimum: 1, maximum: 2147483647, description: 'memory per node, MiB' },
      time_limit_minutes: { type: 'integer', minimum: 1, maximum: 5256000 },
      working_directory: { type: 'string', minLength: 1, maxLength: 4096, pattern: '^/[^\\u0000-\\u001f\\u007f]*$', description: 'absolute path; default your home directory' },
      stdout: { type: 'string', minLength: 1, maxLength: 4096, pattern: NO_CONTROL, description: "Slurm's --output pattern" },
      stderr: { type: 'string', minLength: 1, maxLength: 4096, pattern: NO_CONTROL, description: "Slurm's --error pattern" },
      environment: {
        type: 'object',
        maxProperties: 256,
        propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$' },
        additionalProperties: { type: 'string', maxLength: 32768 },
        description: 'variables for the job (stored by slurmctld: never put a secret here)',
      },
      array: { type: 'string', pattern: '^[0-9][0-9,:%-]{0,255}$', description: "Slurm's --array, e.g. 1-10%2" },
    },
  } as const;
}

export const submitAnswer = {
  type: 'object',
  properties: { job_id: { type: 'integer' } },
  required: ['job_id'],
} as const;

const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const;

export const jobView = {
  type: 'object',
  properties: {
    job_id: { type: 'integer' },
    name: { type: 'string' },
    state: { type: 'string', enum: [...JOB_STATES] },
    slurm_state: { type: 'string', description: "Slurm's own job state" },
    submit_time: nullableTime,
    start_time: nullableTime,
    end_time: nullableTime,
    exit_code: { type: ['integer', 'null'], description: 'exit status of the script (128+N: killed by signal N); null until the job ends' },
  },
  required: ['job_id', 'name', 'state', 'slurm_state', 'submit_time', 'start_time', 'end_time', 'exit_code'],
} as const;

export const jobList = {
  type: 'object',
  properties: { jobs: { type: 'array', items: jobView } },
  required: ['jobs'],
} as const;

export const jobsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { state: { type: 'string', enum: [...JOB_STATES] } },
} as const;

export const jobParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[0-9]{1,10}$' } },
} as const;

export const cancelAnswer = {
  type: 'object',
  properties: { job_id: { type: 'integer' }, cancelled: { type: 'boolean' } },
  required: ['job_id', 'cancelled'],
} as const;

export const credentialAnswer = {
  type: 'object',
  properties: {
    principal: { type: 'string' },
    expires: { type: 'string', format: 'date-time', description: 'end time of the TGT the store holds (it renews it)' },
    renew_until: { type: ['string', 'null'], format: 'date-time' },
    stored_at: { type: ['string', 'null'], format: 'date-time' },
  },
  required: ['principal', 'expires', 'renew_until', 'stored_at'],
} as const;

export const clusterAnswer = {
  type: 'object',
  properties: {
    partitions: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          state: { type: 'string' },
          default: { type: 'boolean' },
          nodes: { type: 'integer' },
          cpus: { type: 'integer' },
          max_time_minutes: { type: ['integer', 'null'] },
        },
        required: ['name', 'state', 'default', 'nodes', 'cpus', 'max_time_minutes'],
      },
    },
    nodes: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          state: { type: 'string' },
          cpus: { type: 'integer' },
          cpus_in_use: { type: 'integer' },
          memory_mb: { type: 'integer' },
          memory_in_use_mb: { type: 'integer' },
          partitions: { type: 'array', items: { type: 'string' } },
        },
        required: ['name', 'state', 'cpus', 'cpus_in_use', 'memory_mb', 'memory_in_use_mb', 'partitions'],
      },
    },
    totals: {
      type: 'object',
      properties: {
        nodes: { type: 'integer' },
        cpus: { type: 'integer' },
        cpus_in_use: { type: 'integer' },
        memory_mb: { type: 'integer' },
        memory_in_use_mb: { type: 'integer' },
      },
      required: ['nodes', 'cpus', 'cpus_in_use', 'memory_mb', 'memory_in_use_mb'],
    },
  },
  required: ['partitions', 'nodes', 'totals'],
} as const;

export const logoutAnswer = {
  type: 'object',
  properties: { logged_out: { type: 'boolean' } },
  required: ['logged_out'],
} as const;

export const healthAnswer = {
  type: 'object',
  properties: { status: { type: 'string' }, version: { type: 'string' } },
  required: ['status', 'version'],
} as const;
