/**
 * A structural check of a KRB-CRED before libkrb5 sees it. libkrb5 1.20's krb5_rd_cred copies
 * each KrbCredInfo's pname/sname with krb5_copy_principal without a NULL check, and both are
 * OPTIONAL in RFC 4120: a message without them crashes the process (seen here with gdb). So the
 * store, which reads messages users send, first checks the shape: strict DER, one KrbCredInfo per
 * ticket, each with prealm, pname, srealm and sname. This decodes no Kerberos semantics; libkrb5
 * still does all the real parsing.
 */
import { Krb5BridgeError } from '../errors';

interface Tlv {
  tag: number;
  start: number; // first content byte
  end: number; // one past the last content byte
}

function bad(why: string): never {
  throw new Krb5BridgeError('E_PROTOCOL', `not a KRB-CRED message: ${why}`);
}

/** One TLV at `pos` inside [pos, limit): single-byte tags, definite minimal lengths only. */
function tlv(b: Buffer, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) bad(`truncated at byte ${pos}`);
  const tag = b[pos]!;
  if ((tag & 0x1f) === 0x1f) bad(`multi-byte tag at byte ${pos}`);
  let len = b[pos + 1]!;
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3) bad(`unsupported length form at byte ${pos}`);
    if (start + n > limit) bad(`truncated length at byte ${pos}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[start + i]!;
    if (b[start] === 0 || len < 0x80) bad(`non-minimal length at byte ${pos}`);
    start += n;
  }
  const end = start + len;
  if (end > limit) bad(`length overruns the message at byte ${pos}`);
  return { tag, start, end };
}

/** The children of a constructed TLV, each exactly once, in order, covering it entirely. */
function children(b: Buffer, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = t.start; p < t.end; ) {
    const c = tlv(b, p, t.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

function expect(t: Tlv, tag: number, what: string): Tlv {
  if (t.tag !== tag) bad(`${what}: expected tag 0x${tag.toString(16)}, got 0x${t.tag.toString(16)}`);
  return t;
}

/** The single child of a context tag [n] EXPLICIT. */
function explicit(b: Buffer, t: Tlv, what: string): Tlv {
  const c = children(b, t);
  if (c.length !== 1) bad(`${what}: expected one element`);
  return c[0]!;
}

/** Context-tagged fields of a SEQUENCE by tag number; each at most once, ascending. */
function fields(b: Buffer, seq: Tlv, what: string): Map<number, Tlv> {
  const m = new Map<number, Tlv>();
  let last = -1;
  for (const c of children(b, seq)) {
    if ((c.tag & 0xe0) !== 0xa0) bad(`${what}: unexpected tag 0x${c.tag.toString(16)}`);
    const n = c.tag & 0x1f;
    if (n <= last) bad(`${what}: fields out of order`);
    last = n;
    m.set(n, c);
  }
  return m;
}

function smallInt(b: Buffer, t: Tlv, what: string): number {
  expect(t, 0x02, what);
  const len = t.end - t.start;
  if (len < 1 || len > 4) bad(`${what}: bad integer`);
  return b.readIntBE(t.start, len);
}

const SEQ = 0x30;

/** Throws E_PROTOCOL unless `msg` is a KRB-CRED whose every credential names client and server. */
export function checkKrbCredShape(msg: Buffer, maxCreds: number): void {
  const top = tlv(msg, 0, msg.length);
  if (top.end !== msg.length) bad('trailing bytes');
  expect(top, 0x76, 'KRB-CRED'); // [APPLICATION 22]
  const f = fields(msg, expect(explicit(msg, top, 'KRB-CRED'), SEQ, 'KRB-CRED body'), 'KRB-CRED');
  const tickets = f.get(2);
  const encPart = f.get(3);
  if (!f.has(0) || !f.has(1) || !tickets || !encPart) bad('missing pvno, msg-type, tickets or enc-part');
  const nTickets = children(msg, expect(explicit(msg, tickets, 'tickets'), SEQ, 'tickets')).length;
  if (nTickets < 1 || nTickets > maxCreds) bad(`${nTickets} tickets (1..${maxCreds} allowed)`);

  const ed = fields(msg, expect(explicit(msg, encPart, 'enc-part'), SEQ, 'enc-part'), 'EncryptedData');
  const etype = ed.get(0);
  const cipher = ed.get(2);
  if (!etype || !cipher) bad('enc-part lacks etype or cipher');
  // Only key-less (etype 0) messages are ever made or accepted here: there is no key to decrypt with.
  if (smallInt(msg, explicit(msg, etype, 'etype'), 'etype') !== 0) bad('enc-part is encrypted; only unencrypted KRB-CRED is supported');
  const plain = expect(explicit(msg, cipher, 'cipher'), 0x04, 'cipher');

  const part = tlv(msg, plain.start, plain.end);
  if (part.end !== plain.end) bad('trailing bytes in enc-part');
  expect(part, 0x7d, 'EncKrbCredPart'); // [APPLICATION 29]
  const pf = fields(msg, expect(explicit(msg, part, 'EncKrbCredPart'), SEQ, 'EncKrbCredPart body'), 'EncKrbCredPart');
  const infos = pf.get(0);
  if (!infos) bad('EncKrbCredPart lacks ticket-info');
  const list = children(msg, expect(explicit(msg, infos, 'ticket-info'), SEQ, 'ticket-info'));
  if (list.length !== nTickets) bad(`${list.length} ticket-info entries for ${nTickets} tickets`);
  list.forEach((info, i) => {
    const k = fields(msg, expect(info, SEQ, `KrbCredInfo ${i + 1}`), `KrbCredInfo ${i + 1}`);
    for (const [n, name] of [[0, 'key'], [1, 'prealm'], [2, 'pname'], [8, 'srealm'], [9, 'sname']] as const) {
      if (!k.has(n)) bad(`credential ${i + 1} has no ${name}`);
    }
  });
}
