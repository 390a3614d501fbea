/**
 * Reading the policy file: whoever can write it owns the store, so it must be a regular file of
 * root (our euid) that group and others cannot write; then it is parsed strictly (acl.ts).
 */
import * as fs from 'node:fs';
import { constants } from 'node:fs';
import { Krb5BridgeError } from '../errors';
import { Policy, parsePolicy } from './acl';
import { gidOfGroup } from './groups';

export async function loadPolicyFile(path: string): Promise<Policy> {
  let fd: number;
  try {
    fd = fs.openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Krb5BridgeError('E_CONFIG', `cannot read the policy file ${path}: ${code === 'ELOOP' ? 'it is a symbolic link' : code ?? String(e)}`, { cause: e });
  }
  let text: string;
  try {
    const st = fs.fstatSync(fd);
    const euid = process.geteuid ? process.geteuid() : 0;
    const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
    if (!st.isFile()) throw new Krb5BridgeError('E_UNSAFE_PATH', `policy file ${path} is not a regular file`);
    if (st.uid !== euid && st.uid !== 0) throw new Krb5BridgeError('E_UNSAFE_PATH', `policy file ${path} is owned by uid ${st.uid}, not root (mode ${mode}); chown root it`);
    if ((st.mode & 0o022) !== 0) throw new Krb5BridgeError('E_UNSAFE_PATH', `policy file ${path} has mode ${mode}: group or others may write it; chmod 0644 or 0600 it`);
    if (st.size > 4 * 1024 * 1024) throw new Krb5BridgeError('E_CONFIG', `policy file ${path} is larger than 4 MiB`);
    text = fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
  return parsePolicy(text, path, gidOfGroup);
}
