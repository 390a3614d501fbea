/**
 * Host name -> addresses for ACL host rules (forward DNS through the system resolver, as
 * getaddrinfo sees /etc/hosts and DNS), cached briefly so that a burst of requests costs one lookup.
 */
import { lookup } from 'node:dns/promises';

export function hostResolver(ttlMs = 30_000): (name: string) => Promise<string[]> {
  const cache = new Map<string, { addrs: Promise<string[]>; until: number }>();
  return (name) => {
    const now = Date.now();
    const hit = cache.get(name);
    if (hit && hit.until > now) return hit.addrs;
    if (cache.size > 10_000) cache.clear();
    const addrs = lookup(name, { all: true }).then(
      (r) => r.map((a) => a.address),
      () => [],
    );
    cache.set(name, { addrs, until: now + ttlMs });
    return addrs;
  };
}
