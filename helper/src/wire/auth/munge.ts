/**
 * munge mechanism: every request frame is a munge credential restricted to `store_uid`, every
 * answer a credential restricted to the caller's uid; munged refuses replays and expired
 * credentials. The answer's uid (store_uid) and nonce authenticate the store to the client.
 */
import { Krb5BridgeError, isKrb5BridgeError } from '../../errors';
import { mungeCauseOf, mungeDecode, mungeEncode } from '../../munge';
import type { AuthCaller, ClientAuth, Inbound, ServerAuth } from './types';

export class MungeServerAuth implements ServerAuth {
  readonly mech = 'munge' as const;

  constructor(private readonly socket: string | undefined) {}

  async receive(frame: Buffer): Promise<Inbound> {
    const d = await mungeDecode(frame.toString('latin1'), { socket: this.socket });
    return { kind: 'request', caller: { uid: d.uid, gid: d.gid, mech: 'munge' }, payload: d.payload };
  }

  /** For the caller's uid alone; an unknown sender gets an unrestricted credential. */
  async seal(body: Buffer, caller: AuthCaller | undefined): Promise<Buffer> {
    return Buffer.from(await mungeEncode(body, { socket: this.socket, uidRestriction: caller?.uid }), 'latin1');
  }

  refusedPayload(e: unknown): Buffer | undefined {
    return mungeCauseOf(e)?.payload;
  }

  close(): void {}
}

export class MungeClientAuth implements ClientAuth {
  readonly mech = 'munge' as const;

  constructor(
    private readonly store: string,
    private readonly socket: string | undefined,
    private readonly storeUid: number,
  ) {}

  async handshake(): Promise<void> {}

  async seal(payload: Buffer): Promise<Buffer> {
    return Buffer.from(await mungeEncode(payload, { socket: this.socket, uidRestriction: this.storeUid }), 'latin1');
  }

  async open(frame: Buffer): Promise<Buffer> {
    let decoded;
    try {
      decoded = await mungeDecode(frame.toString('latin1'), { socket: this.socket });
    } catch (e) {
      if (isKrb5BridgeError(e) && e.code === 'E_AUTH') {
        throw new Krb5BridgeError('E_AUTH', `the answer of ${this.store} is not a valid munge credential for you: ${e.detail ?? e.message}`, { cause: e });
      }
      throw e;
    }
    if (decoded.uid !== this.storeUid) {
      throw new Krb5BridgeError('E_AUTH', `the answer of ${this.store} was made by uid ${decoded.uid}, not store_uid ${this.storeUid}; is something else listening there?`);
    }
    return decoded.payload;
  }

  close(): void {}
}
