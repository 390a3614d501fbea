/**
 * krb5 mechanism (docs/internals.md, "Wire protocol, krb5 mode"): the connection's first frame is
 * an AP-REQ for the store's service principal, answered by an AP-REP (mutual authentication);
 * every later frame both ways is a KRB-PRIV under the client's subkey with sequence numbers. The
 * client seals nothing, credentials included, before krb5_rd_rep has proved the store holds the
 * service key.
 */
import { ErrorCode, Krb5BridgeError } from '../../errors';
import { ApClient, ApServer, ClientIdentity, Keytab, anameToLocalname, parsePrincipal } from '../../krb5';
import type { Ptr } from '../../krb5/lib';
import { AccountResolver } from '../../sys/accounts';
import { parseJsonObject } from '../messages';
import { AuthCaller, ClientAuth, Inbound, KRB5_MAGIC, ServerAuth, isKrb5Handshake } from './types';

/** `host/<fqdn>@REALM`: a compute node's host key; the node's root, not a user. */
const HOST_PRINCIPAL = /^host\/([A-Za-z0-9][A-Za-z0-9.-]{0,252})@[^/@\s]+$/;

/** A caller that authenticated with a node's host key (krb5 mode). */
export function isNodeIdentity(caller: AuthCaller): boolean {
  return caller.mech === 'krb5' && caller.principal !== undefined && HOST_PRINCIPAL.test(caller.principal);
}

/** What the store keeps for all krb5 connections: its service principal and keytab. */
export class Krb5Acceptor {
  readonly service: Ptr;
  private readonly keytab: Keytab;
  private readonly accounts = new AccountResolver();

  constructor(
    readonly principal: string,
    keytabPath: string,
  ) {
    this.keytab = Keytab.open(keytabPath, principal, 'store');
    this.service = parsePrincipal(principal);
  }

  accept(apReq: Buffer): ReturnType<typeof ApServer.accept> {
    return ApServer.accept(apReq, this.service, this.keytab);
  }

  /** The caller a client principal stands for; refusals say why. */
  async callerOf(principal: string): Promise<AuthCaller> {
    const host = HOST_PRINCIPAL.exec(principal);
    if (host) return { uid: 0, gid: 0, mech: 'krb5', principal, host: host[1]!.toLowerCase() };
    const name = anameToLocalname(principal);
    if (name === undefined) throw new Krb5BridgeError('E_AUTH', `principal ${principal} maps to no local account here (krb5 auth_to_local)`);
    const account = await this.accounts.of(name);
    if (account === undefined) throw new Krb5BridgeError('E_AUTH', `principal ${principal} maps to local name "${name}", which is not a user here`);
    // Root's powers in krb5 mode come only from a host key (node) or an explicit rule, never
    // from a user principal that auth_to_local happens to map to root.
    if (account.uid === 0) throw new Krb5BridgeError('E_PERMISSION', `principal ${principal} maps to root; use a host principal (nodes) or a user principal`);
    return { uid: account.uid, gid: account.gid, mech: 'krb5', principal };
  }

  close(): void {
    this.keytab.close();
  }
}

export class Krb5ServerAuth implements ServerAuth {
  readonly mech = 'krb5' as const;
  private session: ApServer | undefined;
  private caller: AuthCaller | undefined;

  constructor(private readonly acceptor: Krb5Acceptor) {}

  async receive(frame: Buffer): Promise<Inbound> {
    if (!this.session) {
      if (!isKrb5Handshake(frame)) throw new Krb5BridgeError('E_AUTH', 'krb5 connection: the first frame must be the AP-REQ handshake');
      const { session, client, apRep } = this.acceptor.accept(frame.subarray(KRB5_MAGIC.length));
      try {
        this.caller = await this.acceptor.callerOf(client);
      } catch (e) {
        session.close();
        throw e;
      }
      this.session = session;
      return { kind: 'handshake', reply: Buffer.concat([KRB5_MAGIC, apRep]), caller: this.caller };
    }
    return { kind: 'request', caller: this.caller!, payload: this.session.open(frame, `request of ${this.caller!.principal}`) };
  }

  /** Sealed once the session exists; before that (a refused handshake) plain JSON, which the client trusts for nothing. */
  async seal(body: Buffer, _caller: AuthCaller | undefined): Promise<Buffer> {
    return this.session ? this.session.seal(body) : body;
  }

  refusedPayload(): Buffer | undefined {
    return undefined;
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }
}

export class Krb5ClientAuth implements ClientAuth {
  readonly mech = 'krb5' as const;
  private session: ApClient | undefined;
  private verified = false;

  constructor(
    private readonly store: string,
    private readonly service: string,
    private readonly identity: ClientIdentity,
  ) {}

  async handshake(exchange: (frame: Buffer) => Promise<Buffer>): Promise<void> {
    const { session, apReq } = ApClient.start(this.identity, this.service);
    this.session = session;
    const reply = await exchange(Buffer.concat([KRB5_MAGIC, apReq]));
    if (!isKrb5Handshake(reply)) throw refusedHandshake(this.store, reply);
    session.verifyReply(reply.subarray(KRB5_MAGIC.length), `${this.service} at ${this.store}`);
    this.verified = true;
  }

  async seal(payload: Buffer): Promise<Buffer> {
    // The one gate in front of every byte of a request: no proof from the store, nothing sent.
    if (!this.session || !this.verified) throw new Krb5BridgeError('E_INTERNAL', 'krb5: request sealed before the store proved its identity');
    return this.session.seal(payload);
  }

  async open(frame: Buffer): Promise<Buffer> {
    if (!this.session || !this.verified) throw new Krb5BridgeError('E_INTERNAL', 'krb5: answer read before the handshake');
    return this.session.open(frame, `the answer of ${this.store}`);
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
    this.verified = false;
  }
}

/**
 * The store refused the handshake with a plain (unauthenticated) JSON error. Its code is shown so
 * the user knows what to fix, but it proves nothing: the connection is closed, nothing is sent.
 */
function refusedHandshake(store: string, reply: Buffer): Krb5BridgeError {
  let code: ErrorCode = 'E_AUTH';
  let message = `${reply.length} bytes that are not an AP-REP`;
  try {
    const obj = parseJsonObject(reply.toString('utf8'), 'answer');
    // Only codes that change nothing the caller does next: a forged answer can deny, not mislead.
    if (obj.code === 'E_PERMISSION') code = 'E_PERMISSION';
    if (typeof obj.message === 'string') message = obj.message.slice(0, 1024);
  } catch {
    // not JSON: keep the generic message
  }
  return new Krb5BridgeError(code, `store ${store} refused the Kerberos handshake (unauthenticated answer): ${message}`);
}
