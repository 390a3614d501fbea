/**
 * Reading the policy file: whoever can write it owns the store, so it is opened through the one
 * trusted-path check (root's, not writable by group or others, in directories nobody else can
 * write), then parsed strictly (acl.ts).
 */
import { gidOfGroup } from '../sys/accounts';
import { readTrusted } from '../util/trustedpath';
import { Policy, parsePolicy } from './acl';

export async function loadPolicyFile(path: string): Promise<Policy> {
  const text = readTrusted(path, { what: 'policy file', forbid: 0o022, modeRemedy: 'chmod 0644 or 0600 it' });
  return parsePolicy(text, path, gidOfGroup);
}
