/**
 * Host name -> addresses for ACL host rules (forward DNS through the system resolver, as
 * getaddrinfo sees /etc/hosts and DNS), cached briefly so that a burst of requests costs one lookup.
 */
import { lookup } from 'node:dns/promises';
import { TtlCache } from '../util/ttlcache';

export function hostResolver(ttlMs = 30_000): (name: string) => Promise<string[]> {
  const cache = new TtlCache<string, string[]>();
  return (name) =>
    cache.get(
      name,
      () => ttlMs,
      () =>
        lookup(name, { all: true }).then(
          (r) => r.map((a) => a.address),
          () => [],
        ),
    );
}
