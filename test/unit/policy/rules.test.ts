import * as rules from '../../../helper/src/policy/rules';
import { isFresher } from '../../../helper/src/records/types';
import { Krb5BridgeError } from '../../../helper/src/errors';

function refusal(fn: () => void): { code: string; message: string } | undefined {
  try {
    fn();
  } catch (e) {
    return { code: (e as Krb5BridgeError).code, message: (e as Error).message };
  }
  return undefined;
}

describe('push rules', () => {
  test('root and uids below min_uid are refused; others allowed', () => {
    expect(refusal(() => rules.checkPushUid(0, 0))).toMatchObject({ code: 'E_UID_REFUSED', message: expect.stringContaining('uid 0 (root)') });
    expect(refusal(() => rules.checkPushUid(999, 1000))).toMatchObject({ code: 'E_UID_REFUSED', message: expect.stringContaining('uid 999 is below min_uid 1000') });
    expect(refusal(() => rules.checkPushUid(1000, 1000))).toBeUndefined();
  });

  test('principal must map to the munge uid', () => {
    expect(refusal(() => rules.checkPrincipalBinding(1001, 'alice@R', 'alice', 1001))).toBeUndefined();
    expect(refusal(() => rules.checkPrincipalBinding(1002, 'alice@R', 'alice', 1001))).toEqual({
      code: 'E_PRINCIPAL_MISMATCH',
      message: expect.stringContaining('principal alice@R belongs to alice (uid 1001), but you are uid 1002'),
    });
    expect(refusal(() => rules.checkPrincipalBinding(1001, 'alice@OTHER', undefined, undefined))?.message).toMatch(/maps to no local user name/);
    expect(refusal(() => rules.checkPrincipalBinding(1001, 'ghost@R', 'ghost', undefined))?.message).toMatch(/"ghost", which is not a user here/);
  });

  test('mixed principals and expired tickets are refused', () => {
    expect(refusal(() => rules.checkSingleClient('a@R', ['a@R', 'b@R']))?.code).toBe('E_PRINCIPAL_MISMATCH');
    expect(refusal(() => rules.checkSingleClient('a@R', ['a@R', 'a@R']))).toBeUndefined();
    expect(refusal(() => rules.checkNotExpired('a@R', 100, 100))?.code).toBe('E_TICKET_EXPIRED');
    expect(refusal(() => rules.checkNotExpired('a@R', 101, 100))).toBeUndefined();
  });

  test('fresher: later endtime or newer authtime replaces; anything else is kept', () => {
    const stored = { authtime: 100, endtime: 1000 };
    expect(isFresher({ authtime: 100, endtime: 1001 }, stored)).toBe(true);
    expect(isFresher({ authtime: 101, endtime: 900 }, stored)).toBe(true);
    expect(isFresher({ authtime: 100, endtime: 1000 }, stored)).toBe(false);
    expect(isFresher({ authtime: 99, endtime: 999 }, stored)).toBe(false);
    expect(isFresher({ authtime: 1, endtime: 2 }, undefined)).toBe(true);
  });
});

describe('Kerberos mode', () => {
  test('the pushed ticket must be the authenticated principal\'s own', () => {
    expect(refusal(() => rules.checkAuthenticatedPrincipal('a@R', 'a@R'))).toBeUndefined();
    expect(refusal(() => rules.checkAuthenticatedPrincipal('a@R', 'b@R'))).toEqual({
      code: 'E_PRINCIPAL_MISMATCH',
      message: expect.stringContaining('you authenticated as a@R but the ticket belongs to b@R'),
    });
  });
});

// Who may fetch, show, list and remove (root by default) is tested in acl.test.ts.
