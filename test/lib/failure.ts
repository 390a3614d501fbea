import { Krb5BridgeError } from '../../helper/src/errors';

/** The error a promise rejects with; throws if it resolves. */
export async function failure(p: Promise<unknown>): Promise<Krb5BridgeError> {
  try {
    await p;
  } catch (e) {
    return e as Krb5BridgeError;
  }
  throw new Error('expected a failure');
}
