import { ERRORS, Krb5BridgeError, errorByStatus, errorsAsCHeader, formatErrorLine } from '../../helper/src/errors';

describe('error registry', () => {
  test('every status is unique and within 1..255', () => {
    const statuses = Object.values(ERRORS).map((e) => e.status);
    expect(new Set(statuses).size).toBe(statuses.length);
    for (const s of statuses) expect(s >= 1 && s <= 255).toBe(true);
  });

  test('the stderr line carries the code and the detail', () => {
    const e = new Krb5BridgeError('E_NOT_FOUND', 'uid 1001');
    expect(e.status).toBe(33);
    expect(formatErrorLine(e)).toBe('krb5bridge: E_NOT_FOUND: the store holds no credential for this user; the user must submit with a valid ticket (kinit): uid 1001');
    expect(errorByStatus(33)).toBe('E_NOT_FOUND');
    expect(errorByStatus(254)).toBeUndefined();
  });

  test('the C header lists every code with its status', () => {
    const h = errorsAsCHeader();
    for (const [code, spec] of Object.entries(ERRORS)) expect(h).toContain(`#define KRB5BRIDGE_${code} ${spec.status}\n`);
  });
});
