/**
 * The store's authentication layer: one interface, two mechanisms (munge, krb5). A mechanism
 * turns frames into authenticated requests on the store and requests into frames on the client;
 * everything above it (handlers, rules, the client's answer checks) sees only JSON payloads and
 * the authenticated caller. docs/internals.md ("Wire protocol") describes the frames exactly.
 */

export type Mech = 'munge' | 'krb5';

/**
 * Who sent a request, as the mechanism proved it. munge: uid/gid from munged. krb5: the client
 * principal from the AP-REQ, uid/gid its local account (auth_to_local + getpwnam); a host
 * principal `host/<fqdn>@REALM` is a node identity: uid 0, `host` set, allowed only node ops.
 */
export interface AuthCaller {
  uid: number;
  gid: number;
  mech: Mech;
  principal?: string;
  host?: string;
}

/** Who sent a request, as the transport proved it, and the peer's IP address as the socket saw it. */
export interface Caller extends AuthCaller {
  /** The peer's IP address (both mechanisms); host rules and node identity use it. */
  addr?: string;
}

/** What the store does with one inbound frame. */
export type Inbound =
  /** A handshake step: send `reply`, no request to serve; `caller` is who it authenticated. */
  | { kind: 'handshake'; reply: Buffer; caller: AuthCaller }
  | { kind: 'request'; caller: AuthCaller; payload: Buffer };

/** The store's side of one connection (a mechanism is picked by the connection's first frame). */
export interface ServerAuth {
  readonly mech: Mech;
  /** Authenticate one frame; throws Krb5BridgeError (E_AUTH, ...) when it cannot. */
  receive(frame: Buffer): Promise<Inbound>;
  /**
   * Seal a response body for `caller`; with no caller (the frame could not be authenticated) the
   * answer is what the mechanism can still say to an unknown peer.
   */
  seal(body: Buffer, caller: AuthCaller | undefined): Promise<Buffer>;
  /** The request payload a refused frame still revealed (for its nonce), if any. */
  refusedPayload(e: unknown): Buffer | undefined;
  close(): void;
}

/** The client's side of one connection. */
export interface ClientAuth {
  readonly mech: Mech;
  /** Run the handshake over `exchange` (send one frame, get the next); no-op for munge. */
  handshake(exchange: (frame: Buffer) => Promise<Buffer>): Promise<void>;
  /** A request payload -> frame body. Refuses (E_INTERNAL) before a successful handshake. */
  seal(payload: Buffer): Promise<Buffer>;
  /** An answer frame body -> its payload, after checking it came from the store. */
  open(frame: Buffer): Promise<Buffer>;
  close(): void;
}

/** First bytes of a krb5 handshake frame (both directions): "K5B" and the krb5 wire version 1. */
export const KRB5_MAGIC = Buffer.from([0x4b, 0x35, 0x42, 0x01]);

export function isKrb5Handshake(frame: Buffer): boolean {
  return frame.length >= KRB5_MAGIC.length && frame.subarray(0, KRB5_MAGIC.length).equals(KRB5_MAGIC);
}
