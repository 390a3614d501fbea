/**
 * The Kerberos AP exchange through the real libkrb5, what the store's krb5 mode is built on
 * (docs/internals.md, "Wire protocol, krb5 mode"): the client makes an AP-REQ for the store's
 * service principal (mutual authentication required, a fresh subkey, sequence numbers), the store
 * checks it against its keytab and the replay cache and answers an AP-REP, which the client
 * checks. Both sides then hold a PrivSession (priv.ts) for KRB-PRIV messages.
 *
 * Why the raw krb5 API and not GSSAPI: the helper already binds libkrb5 (one context, ccache code,
 * error messages); krb5_mk_req_extended/krb5_rd_req/krb5_mk_rep/krb5_rd_rep and
 * krb5_mk_priv/krb5_rd_priv give exactly the guarantees needed (mutual authentication, a fresh
 * per-connection subkey, sequence numbers, the server's replay cache) with plain pointers and
 * krb5_data, and let us name the exact service principal and keytab per call. GSSAPI would add a
 * second library, OID and buffer marshalling, and cred_store key/value arrays for the keytab and
 * MEMORY ccache, for the same underlying messages. No crypto or ASN.1 is done here: libkrb5 makes
 * and checks every byte. Everything is synchronous on the calling thread.
 */
import { Krb5BridgeError } from '../errors';
import { hostCcache, hostCcacheCached } from './hostcreds';
import type { Keytab } from './keytab';
import { KRB5, KrbAuthenticator, KrbCreds, Ptr, cAlloc, cFree, check, ctx, errorMessage, fn, freeInData, inData, koffi, outData, outPtr, takeOut, unparse } from './lib';
import { parsePrincipal } from './names';
import { MAX_MESSAGE, PrivSession, authError, setDirection } from './priv';

// krb5.h constants.
const AP_OPTS_MUTUAL_REQUIRED = 0x20000000;
const AP_OPTS_USE_SUBKEY = 0x00000001;
const AUTH_CONTEXT_DO_TIME = 0x1;
const AUTH_CONTEXT_DO_SEQUENCE = 0x4;

/** Where a client's identity comes from: a ccache (the user's TGT) or a keytab (the node's host key). */
export type ClientIdentity = { kind: 'ccache'; ccache?: string | undefined } | { kind: 'keytab'; keytab: string; principal: string; cachedOnly?: boolean };

/** krb5_get_credentials option: only what the ccache holds, never the KDC. */
const GC_CACHED = 2;

/** A service ticket for `service` from the identity's ccache (krb5_get_credentials: cached or from the KDC; cachedOnly: cached only). */
function serviceCreds(identity: ClientIdentity, service: string): { creds: Ptr; client: string } {
  const c = ctx();
  const cachedOnly = identity.kind === 'keytab' && identity.cachedOnly === true;
  let cc: Ptr;
  let close = false;
  if (identity.kind === 'keytab') cc = cachedOnly ? hostCcacheCached(identity.keytab, identity.principal) : hostCcache(identity.keytab, identity.principal);
  else {
    const out: [Ptr | null] = [null];
    const code = (identity.ccache === undefined ? fn.cc_default(c, out) : fn.cc_resolve(c, identity.ccache, out)) as number;
    if (code !== 0 || !out[0]) throw new Krb5BridgeError('E_NO_TICKET', `cannot resolve credential cache ${identity.ccache ?? '(default)'}: ${errorMessage(code)}`);
    cc = out[0];
    close = true;
  }
  const inCreds = cAlloc(koffi.sizeof(KrbCreds));
  let client: Ptr | undefined;
  let server: Ptr | undefined;
  try {
    const pOut: [Ptr | null] = [null];
    const pc = fn.cc_get_principal(c, cc, pOut) as number;
    if (pc !== 0 || !pOut[0]) throw new Krb5BridgeError('E_NO_TICKET', `credential cache ${identity.kind === 'ccache' ? (identity.ccache ?? '(default)') : 'of the host keytab'}: ${errorMessage(pc)}; run kinit`);
    client = pOut[0];
    server = parsePrincipal(service);
    koffi.encode(inCreds, koffi.offsetof(KrbCreds, 'client'), 'void *', client);
    koffi.encode(inCreds, koffi.offsetof(KrbCreds, 'server'), 'void *', server);
    const out: [Ptr | null] = [null];
    const code = fn.get_credentials(c, cachedOnly ? GC_CACHED : 0, cc, inCreds, out) as number;
    const who = unparse(client);
    if (cachedOnly && (code !== 0 || !out[0])) {
      throw new Krb5BridgeError('E_KDC_UNREACHABLE', `no ticket for ${service} in the host cache of ${who} yet (asked of the KDC off the event loop): ${errorMessage(code)}`);
    }
    if (code === KRB5.KDC_ERR_S_PRINCIPAL_UNKNOWN) {
      throw new Krb5BridgeError('E_AUTH', `the KDC does not know the store principal ${service}; check store_principal in the config`);
    }
    if (code === KRB5.AP_ERR_TKT_EXPIRED) throw new Krb5BridgeError('E_TICKET_EXPIRED', `the ticket of ${who} has expired: ${errorMessage(code)}`);
    if (code !== 0 || !out[0]) {
      throw new Krb5BridgeError(identity.kind === 'ccache' ? 'E_NO_TICKET' : 'E_AUTH', `cannot get a ticket for ${service} as ${who}: ${errorMessage(code)} [${code}]`);
    }
    return { creds: out[0], client: who };
  } finally {
    cFree(inCreds);
    if (client) fn.free_principal(c, client);
    if (server) fn.free_principal(c, server);
    if (close) fn.cc_close(c, cc);
  }
}

/** The client's side: AP-REQ out, AP-REP checked (mutual authentication), then KRB-PRIV. */
export class ApClient extends PrivSession {
  /** The client principal we authenticated as. */
  readonly client: string;

  private constructor(ac: Ptr, client: string) {
    super(ac);
    this.client = client;
  }

  /** Make an AP-REQ for `service` (mutual authentication required, a fresh subkey); returns it with the session. */
  static start(identity: ClientIdentity, service: string): { session: ApClient; apReq: Buffer } {
    const c = ctx();
    const { creds, client } = serviceCreds(identity, service);
    const acOut: [Ptr | null] = [null];
    try {
      acOut[0] = outPtr((o) => fn.auth_con_init(c, o), 'krb5_auth_con_init');
      check('krb5_auth_con_setflags', fn.auth_con_setflags(c, acOut[0], AUTH_CONTEXT_DO_SEQUENCE) as number);
      const out = outData();
      const code = fn.mk_req_extended(c, acOut, AP_OPTS_MUTUAL_REQUIRED | AP_OPTS_USE_SUBKEY, null, creds, out) as number;
      if (code !== 0) {
        cFree(out);
        throw new Krb5BridgeError('E_KRB5', `krb5_mk_req_extended for ${service}: ${errorMessage(code)} [${code}]`);
      }
      const apReq = takeOut(out);
      setDirection(acOut[0]!, 'client');
      const session = new ApClient(acOut[0]!, client);
      acOut[0] = null;
      return { session, apReq };
    } finally {
      if (acOut[0]) fn.auth_con_free(c, acOut[0]);
      fn.free_creds(c, creds);
    }
  }

  /**
   * krb5_rd_rep: only a server that decrypted our ticket with the service key knows the session
   * key that the AP-REP is encrypted in. Anything else is E_AUTH, and the caller sends nothing more.
   */
  verifyReply(apRep: Buffer, service: string): void {
    if (apRep.length === 0 || apRep.length > MAX_MESSAGE) throw new Krb5BridgeError('E_AUTH', `the store did not prove it is ${service}: reply of ${apRep.length} bytes`);
    const c = ctx();
    const input = inData(apRep);
    try {
      const out: [Ptr | null] = [null];
      const code = fn.rd_rep(c, this.handle, input.data, out) as number;
      if (code !== 0) throw authError('krb5_rd_rep', code, `the store did not prove it is ${service} (mutual authentication failed)`);
      if (out[0]) fn.free_ap_rep_enc_part(c, out[0]);
    } finally {
      freeInData(input);
    }
  }
}

/** The store's side: AP-REQ checked against the service keytab and the replay cache, AP-REP made. */
export class ApServer extends PrivSession {
  readonly client: string;

  private constructor(ac: Ptr, client: string) {
    super(ac);
    this.client = client;
  }

  /**
   * krb5_rd_req for exactly `service` from `keytab` (the default replay cache refuses a replayed
   * authenticator), then krb5_mk_rep. Returns the session, the client principal and the AP-REP.
   */
  static accept(apReq: Buffer, service: Ptr, keytab: Keytab): { session: ApServer; client: string; apRep: Buffer } {
    if (apReq.length === 0 || apReq.length > MAX_MESSAGE) throw new Krb5BridgeError('E_AUTH', `AP-REQ of ${apReq.length} bytes`);
    const c = ctx();
    const acOut: [Ptr | null] = [null];
    const input = inData(apReq);
    try {
      acOut[0] = outPtr((o) => fn.auth_con_init(c, o), 'krb5_auth_con_init');
      // DO_TIME makes krb5_rd_req use the replay cache for the authenticator.
      check('krb5_auth_con_setflags', fn.auth_con_setflags(c, acOut[0], AUTH_CONTEXT_DO_TIME | AUTH_CONTEXT_DO_SEQUENCE) as number);
      const tOut: [Ptr | null] = [null];
      const code = fn.rd_req(c, acOut, input.data, service, keytab.handle, null, tOut) as number;
      if (code !== 0) throw authError('krb5_rd_req', code, 'the client could not be authenticated');
      if (tOut[0]) fn.free_ticket(c, tOut[0]);
      const aOut: [Ptr | null] = [null];
      check('krb5_auth_con_getauthenticator', fn.auth_con_getauthenticator(c, acOut[0], aOut) as number);
      let client: string;
      try {
        client = unparse((koffi.decode(aOut[0], KrbAuthenticator) as { client: Ptr }).client);
      } finally {
        fn.free_authenticator(c, aOut[0]);
      }
      // KRB-PRIV messages are protected by sequence numbers on the subkey; no per-message timestamps.
      check('krb5_auth_con_setflags', fn.auth_con_setflags(c, acOut[0], AUTH_CONTEXT_DO_SEQUENCE) as number);
      setDirection(acOut[0]!, 'server');
      const out = outData();
      const rc = fn.mk_rep(c, acOut[0], out) as number;
      if (rc !== 0) {
        cFree(out);
        throw new Krb5BridgeError('E_KRB5', `krb5_mk_rep: ${errorMessage(rc)} [${rc}]`);
      }
      const apRep = takeOut(out);
      const session = new ApServer(acOut[0]!, client);
      acOut[0] = null;
      return { session, client, apRep };
    } finally {
      if (acOut[0]) fn.auth_con_free(c, acOut[0]);
      freeInData(input);
    }
  }
}
