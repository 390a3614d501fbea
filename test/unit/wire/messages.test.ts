import { FrameDecoder, MAX_FRAME, encodeFrame } from '../../../helper/src/wire/frame';
import { parseRequest, parseResponse } from '../../../helper/src/wire/messages';
import { Krb5BridgeError } from '../../../helper/src/errors';

const NONCE = '0123456789abcdef';
const req = (o: unknown): ReturnType<typeof parseRequest> => parseRequest(Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)));

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Krb5BridgeError).code;
  }
  return 'no error';
}

describe('frames', () => {
  test('a frame split into single bytes comes out once, whole', () => {
    const d = new FrameDecoder();
    const wire = encodeFrame('MUNGE:abc:');
    const got: Buffer[] = [];
    for (const b of wire) got.push(...d.push(Buffer.from([b])));
    expect(got.map(String)).toEqual(['MUNGE:abc:']);
    expect(d.pending).toBe(0);
  });

  test('several frames in one chunk, plus the start of another', () => {
    const d = new FrameDecoder();
    const third = encodeFrame('three');
    const got = d.push(Buffer.concat([encodeFrame('one'), encodeFrame('two'), third.subarray(0, 6)]));
    expect(got.map(String)).toEqual(['one', 'two']);
    expect(d.pending).toBe(6);
    expect(d.push(third.subarray(6)).map(String)).toEqual(['three']);
    expect(d.pending).toBe(0);
  });

  test('a header announcing MAX_FRAME + 1 is refused before any body arrives', () => {
    const h = Buffer.alloc(4);
    h.writeUInt32BE(MAX_FRAME + 1);
    expect(() => new FrameDecoder().push(h)).toThrow(/frame of 1048577 bytes announced; the limit is 1048576/);
    expect(codeOf(() => new FrameDecoder().push(h))).toBe('E_TOO_LARGE');
  });

  test('exactly MAX_FRAME bytes is accepted', () => {
    const body = Buffer.alloc(MAX_FRAME, 0x41);
    expect(new FrameDecoder().push(encodeFrame(body))[0]!.length).toBe(MAX_FRAME);
  });

  test('zero length is a protocol error', () => {
    expect(codeOf(() => new FrameDecoder().push(Buffer.alloc(4)))).toBe('E_PROTOCOL');
  });

  test('encodeFrame refuses empty and oversize bodies', () => {
    expect(codeOf(() => encodeFrame(''))).toBe('E_TOO_LARGE');
    expect(codeOf(() => encodeFrame(Buffer.alloc(MAX_FRAME + 1)))).toBe('E_TOO_LARGE');
  });
});

describe('request schema', () => {
  test('valid requests of every op parse into null-prototype objects', () => {
    const push = req({ v: 1, op: 'push', nonce: NONCE, creds: 'AAAA', force: true });
    expect(push).toEqual({ v: 1, op: 'push', nonce: NONCE, creds: 'AAAA', force: true });
    expect(Object.getPrototypeOf(push)).toBeNull();
    expect(req({ v: 1, op: 'fetch', nonce: NONCE, uid: 1001 })).toMatchObject({ op: 'fetch', uid: 1001 });
    expect(req({ v: 1, op: 'show', nonce: NONCE, uid: 0 })).toMatchObject({ op: 'show', uid: 0 });
    expect(req({ v: 1, op: 'remove', nonce: NONCE })).not.toHaveProperty('uid');
    expect(req({ v: 1, op: 'ping', nonce: NONCE })).toMatchObject({ op: 'ping' });
    expect(req({ v: 1, op: 'list', nonce: NONCE })).toMatchObject({ op: 'list' });
  });

  test.each([
    ['not JSON', 'MUNGE:junk', /request is not JSON/],
    ['an array', '[1,2]', /not a JSON object/],
    ['null', 'null', /not a JSON object/],
    ['a number', '42', /not a JSON object/],
    ['wrong version', { v: 2, op: 'ping', nonce: NONCE }, /unsupported protocol version 2/],
    ['missing version', { op: 'ping', nonce: NONCE }, /unsupported protocol version/],
    ['unknown op', { v: 1, op: 'delete_all', nonce: NONCE }, /unknown op "delete_all"/],
    ['op not a string', { v: 1, op: ['ping'], nonce: NONCE }, /unknown op/],
    ['unknown field', { v: 1, op: 'ping', nonce: NONCE, admin: true }, /unknown field "admin"/],
    ['field of another op', { v: 1, op: 'ping', nonce: NONCE, uid: 1 }, /unknown field "uid"/],
    ['short nonce', { v: 1, op: 'ping', nonce: 'abc' }, /nonce/],
    ['uppercase nonce', { v: 1, op: 'ping', nonce: '0123456789ABCDEF' }, /nonce/],
    ['nonce not a string', { v: 1, op: 'ping', nonce: 123 }, /nonce/],
    ['negative uid', { v: 1, op: 'fetch', nonce: NONCE, uid: -1 }, /"uid" must be a uid/],
    ['fractional uid', { v: 1, op: 'fetch', nonce: NONCE, uid: 1.5 }, /"uid" must be a uid/],
    ['huge uid', { v: 1, op: 'fetch', nonce: NONCE, uid: 4294967295 }, /"uid" must be a uid/],
    ['uid as string', { v: 1, op: 'fetch', nonce: NONCE, uid: '1001' }, /"uid" must be a uid/],
    ['fetch without uid', { v: 1, op: 'fetch', nonce: NONCE }, /"uid" must be a uid/],
    ['creds not base64', { v: 1, op: 'push', nonce: NONCE, creds: 'a b!' }, /"creds" must be base64/],
    ['empty creds', { v: 1, op: 'push', nonce: NONCE, creds: '' }, /"creds" must be base64/],
    ['creds too long', { v: 1, op: 'push', nonce: NONCE, creds: 'A'.repeat(700 * 1024 + 4) }, /at most 716800/],
    ['force not boolean', { v: 1, op: 'push', nonce: NONCE, creds: 'AAAA', force: 'yes' }, /"force" must be a boolean/],
  ])('refuses %s', (_name, input, message) => {
    expect(() => req(input)).toThrow(message);
    expect(codeOf(() => req(input))).toBe('E_PROTOCOL');
  });

  test('prototype-poisoning keys are refused, not merged', () => {
    const text = `{"v":1,"op":"ping","nonce":"${NONCE}","__proto__":{"isAdmin":true}}`;
    expect(() => req(text)).toThrow(/unknown field "__proto__"/);
    expect(() => req({ v: 1, op: 'ping', nonce: NONCE, constructor: { prototype: { x: 1 } } })).toThrow(/unknown field "constructor"/);
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });

  test('a long unknown field name is cut in the message', () => {
    const e = (() => {
      try {
        req({ v: 1, op: 'ping', nonce: NONCE, ['x'.repeat(5000)]: 1 });
      } catch (err) {
        return err as Error;
      }
    })();
    expect(e!.message.length).toBeLessThan(200);
  });
});

describe('response schema', () => {
  test('success and error responses', () => {
    expect(parseResponse(Buffer.from(JSON.stringify({ v: 1, nonce: NONCE, ok: true, uid: 0, gid: 0, version: '1' })))).toMatchObject({ ok: true, uid: 0 });
    expect(parseResponse(Buffer.from(JSON.stringify({ v: 1, nonce: NONCE, ok: false, code: 'E_PERMISSION', message: 'no' })))).toMatchObject({ ok: false, code: 'E_PERMISSION' });
  });

  test('junk responses are protocol errors', () => {
    expect(codeOf(() => parseResponse(Buffer.from('{"v":1,"nonce":"x","ok":"yes"}')))).toBe('E_PROTOCOL');
    expect(codeOf(() => parseResponse(Buffer.from(`{"v":1,"nonce":"x","ok":false,"code":"rm -rf","message":"m"}`)))).toBe('E_PROTOCOL');
    expect(codeOf(() => parseResponse(Buffer.from(`{"v":1,"nonce":"x","ok":true,"__proto__":{}}`)))).toBe('E_PROTOCOL');
  });
});
