/**
 * The error registry: every failure the helper reports has a stable code, an exit status in
 * 1..255 and a message that says what to do. The C plugin maps exit statuses with the same table
 * (spank/errors.h is generated from this file by `krb5bridge errors --format c`).
 */

export interface ErrorSpec {
  readonly status: number;
  /** What went wrong and what to do; details are appended after a colon. */
  readonly message: string;
}

export const ERRORS = {
  E_USAGE: { status: 2, message: 'invalid command line; see --help' },
  E_CONFIG: { status: 3, message: 'invalid configuration; fix the file or flag named' },
  E_NO_TICKET: { status: 10, message: 'no Kerberos ticket found; run kinit, then submit again' },
  E_TICKET_EXPIRED: { status: 11, message: 'your Kerberos ticket has expired; run kinit, then submit again' },
  E_NO_TGT: { status: 12, message: 'the credential cache holds no ticket-granting ticket; run kinit' },
  E_KRB5: { status: 13, message: 'a Kerberos library call failed' },
  E_NOT_RENEWABLE: { status: 14, message: 'the ticket can no longer be renewed (not renewable, or past its renew-until); the user must kinit and submit again' },
  E_KDC_UNREACHABLE: { status: 15, message: 'the KDC did not answer (down, hung or unreachable); the renewal is tried again' },
  E_MUNGE: { status: 20, message: 'munge failed; check that munged is running and its socket is reachable' },
  E_STORE_UNREACHABLE: { status: 21, message: 'cannot reach the credential store; check that `krb5bridge serve` runs and the address is right' },
  E_STORE_TIMEOUT: { status: 22, message: 'the credential store did not answer in time' },
  E_PROTOCOL: { status: 23, message: 'malformed message in the store protocol' },
  E_AUTH: { status: 24, message: 'authentication failed' },
  E_STORE_CLOSED: { status: 25, message: 'the credential store closed the connection before answering (restarting or overloaded); the request is tried again' },
  E_PRINCIPAL_MISMATCH: { status: 30, message: 'the ticket belongs to a principal that does not map to your user; you can only store your own ticket' },
  E_UID_REFUSED: { status: 31, message: 'credentials of this uid are not accepted (root and system accounts are refused)' },
  E_PERMISSION: { status: 32, message: 'permission denied' },
  E_NOT_FOUND: { status: 33, message: 'the store holds no credential for this user; the user must submit with a valid ticket (kinit)' },
  E_TOO_LARGE: { status: 35, message: 'message too large' },
  E_NO_JOB: { status: 36, message: 'the store releases a credential only to a node running a job of that user; check the job id and that the job runs on this node' },
  E_JOB_CHECK: { status: 37, message: 'the store could not ask slurmctld about the job; check scontrol and slurm_conf on the store host' },
  E_SLURMCTLD_UNREACHABLE: { status: 38, message: 'slurmctld cannot be reached to check the job; the credential is written once it answers' },
  E_UNSAFE_PATH: { status: 40, message: 'refusing an unsafe path' },
  E_IO: { status: 41, message: 'file operation failed' },
  E_STATE: { status: 42, message: 'state directory is unusable' },
  E_STORAGE: { status: 43, message: 'the credential store cannot write to its storage (disk full, read-only, I/O error); nothing it held was changed: try again later, and tell the administrators if it lasts' },
  // the HTTPS gateway (helper/src/gateway/; docs/gateway.md gives each one's HTTP status)
  E_LOGIN_FAILED: { status: 50, message: 'login failed: unknown user name or wrong password; check both and try again' },
  E_LOCKED_OUT: { status: 51, message: 'too many failed logins for this user or from this address; wait for the seconds in Retry-After, then try again' },
  E_NO_ACCOUNT: { status: 52, message: 'this principal has no local account on the cluster, so it cannot run jobs; ask the site administrators for an account' },
  E_SESSION: { status: 53, message: 'the session token is missing, malformed, expired or logged out; log in again (POST /api/v1/login)' },
  E_NO_DELEGATION: { status: 54, message: 'your Kerberos ticket was not delegated to the gateway; use curl --negotiate --delegation always (or requests-gssapi with delegate=True) and a forwardable ticket (kinit -f)' },
  E_SLURMRESTD: { status: 55, message: 'slurmrestd cannot be reached or gave no usable answer; try again later or tell the site administrators' },
  E_SLURM_REFUSED: { status: 56, message: 'Slurm refused the request; fix what the message names' },
  E_BAD_REQUEST: { status: 57, message: 'the request is malformed; fix the field named and send it again' },
  E_NO_SUCH_JOB: { status: 58, message: 'you have no job with this id; GET /api/v1/jobs lists yours' },
  E_RATE_LIMITED: { status: 59, message: 'too many requests; wait for the seconds in Retry-After, then try again' },
  E_INTERNAL: { status: 70, message: 'internal error; please report it with the --verbose output' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** The one error class of the helper: a code from the registry, details, and the cause kept. */
export class Krb5BridgeError extends Error {
  override readonly name = 'Krb5BridgeError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    const spec = ERRORS[code];
    super(detail ? `${spec.message}: ${detail}` : spec.message, options);
    this.code = code;
    this.status = spec.status;
    this.detail = detail;
  }
}

export function isKrb5BridgeError(e: unknown): e is Krb5BridgeError {
  return e instanceof Krb5BridgeError;
}

/** The one line the helper prints on stderr when it fails; the plugin relays it verbatim. */
export function formatErrorLine(e: Krb5BridgeError): string {
  return `krb5bridge: ${e.code}: ${e.message}`;
}

export function errorByStatus(status: number): ErrorCode | undefined {
  for (const [code, spec] of Object.entries(ERRORS)) if (spec.status === status) return code as ErrorCode;
  return undefined;
}

/** The C header the plugin compiles with: the same table, by exit status. */
export function errorsAsCHeader(): string {
  const lines = [
    '/* Generated from helper/src/errors.ts by `krb5bridge errors --format c`; do not edit. */',
    '#ifndef KRB5BRIDGE_ERRORS_H',
    '#define KRB5BRIDGE_ERRORS_H',
    '',
  ];
  for (const [code, spec] of Object.entries(ERRORS)) lines.push(`#define KRB5BRIDGE_${code} ${spec.status}`);
  lines.push('', 'struct krb5bridge_error { int status; const char *code; const char *message; };', '');
  lines.push('static const struct krb5bridge_error krb5bridge_errors[] = {');
  for (const [code, spec] of Object.entries(ERRORS)) {
    lines.push(`    { ${spec.status}, "${code}", ${JSON.stringify(spec.message)} },`);
  }
  lines.push('    { 0, 0, 0 }', '};', '', '#endif', '');
  return lines.join('\n');
}
