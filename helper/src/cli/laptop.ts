/** The gateway client a laptop verb (submit, jobs, cancel) uses, from its options. */
import { Krb5BridgeError } from '../errors';
import { GatewayClient, defaultTokenFile, readPassword } from '../client/gateway';
import type { GatewayArgs } from './common';

export function gatewayClient(args: GatewayArgs): GatewayClient {
  const url = args.gateway ?? process.env.KRB5BRIDGE_GATEWAY_URL;
  if (!url) throw new Krb5BridgeError('E_USAGE', 'name the gateway: --gateway https://HOST:PORT (or set KRB5BRIDGE_GATEWAY_URL)');
  const user = args.user ?? process.env.USER ?? '';
  return new GatewayClient({
    url,
    ca: args.ca ?? (process.env.KRB5BRIDGE_GATEWAY_CA || undefined),
    timeoutMs: (args.timeout ?? 30) * 1000,
    negotiate: args.negotiate === true,
    user,
    tokenFile: args['token-file'] ?? defaultTokenFile(),
    password: () => readPassword(`Password for ${user} at ${url}: `),
  });
}
