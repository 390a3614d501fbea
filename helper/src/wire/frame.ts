/**
 * Frames (docs/internals.md, "Wire protocol"): a 4-byte big-endian length N (1 <= N <= 1 MiB),
 * then N bytes. Both directions, both mechanisms. Pure: no sockets.
 */
import { Krb5BridgeError } from '../errors';

/** Largest frame body, bytes (a munge credential). */
export const MAX_FRAME = 1024 * 1024;

export function encodeFrame(body: Buffer | string): Buffer {
  const data = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  if (data.length < 1 || data.length > MAX_FRAME) {
    throw new Krb5BridgeError('E_TOO_LARGE', `frame body of ${data.length} bytes; the limit is 1..${MAX_FRAME}`);
  }
  const header = Buffer.alloc(4);
  header.writeUInt32BE(data.length, 0);
  return Buffer.concat([header, data]);
}

/**
 * Cuts a byte stream into frames. Throws E_TOO_LARGE as soon as a header announces more than
 * MAX_FRAME (before the body arrives) and E_PROTOCOL on a zero length; the caller then closes.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** Bytes of an incomplete frame held now (0 = between frames). */
  get pending(): number {
    return this.buffered;
  }

  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Buffer[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      const head = this.peek(4);
      const n = head.readUInt32BE(0);
      if (n === 0) throw new Krb5BridgeError('E_PROTOCOL', 'zero-length frame');
      if (n > MAX_FRAME) throw new Krb5BridgeError('E_TOO_LARGE', `frame of ${n} bytes announced; the limit is ${MAX_FRAME}`);
      if (this.buffered < 4 + n) break;
      const all = this.take(4 + n);
      frames.push(all.subarray(4));
    }
    return frames;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!.subarray(0, n);
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined.subarray(0, n);
  }

  private take(n: number): Buffer {
    const joined = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = Buffer.from(joined.subarray(0, n));
    const rest = joined.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }
}
