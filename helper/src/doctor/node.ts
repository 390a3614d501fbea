/**
 * A compute node: the keeper's socket is safe (root's, 0600, in a root directory nobody else can
 * write: the plugin trusts it with that rule only) and answers; the ccache directory is sticky if
 * others can write it; fs.protected_regular is reported; the node state directory is root's alone.
 */
import { lstatSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import { dirname } from 'node:path';
import { DEFAULT_NODE_STATE_DIR } from '../config/config';
import { checkTrustedAncestors, modeString } from '../util/trustedpath';
import { type CheckGroup, type Finding, fail, ok, warn, why } from './types';

/** One line to the keeper, its one-line answer (bounded by `ms`). */
function askKeeper(path: string, line: string, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer within ${ms} ms`));
    }, ms);
    s.on('connect', () => s.write(`${line}\n`));
    s.on('data', (b: Buffer) => (buf += b.toString('latin1')));
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(buf.trim());
    });
  });
}

async function keeperSocketCheck(path: string, timeoutMs: number): Promise<Finding> {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return warn('keeper-socket', `no keeper socket at ${path}: jobs start slower (the plugin starts Node) and job ccaches are not refreshed`, 'start the keeper: systemctl enable --now krb5bridge-keeper');
  const restart = 'stop whatever made it, remove it and restart the keeper (systemctl restart krb5bridge-keeper): the keeper makes its socket 0600 root in a root directory';
  if (!st.isSocket()) return fail('keeper-socket', `${path} is not a socket`, restart);
  if (st.uid !== 0) return fail('keeper-socket', `${path} is owned by uid ${st.uid}, not root: the plugin will not use it`, restart);
  if (st.mode & 0o077) return fail('keeper-socket', `${path} has mode ${modeString(st.mode)}: others may connect; the plugin will not use it`, `chmod 600 ${path}, or ${restart}`);
  try {
    checkTrustedAncestors(dirname(path), `keeper socket ${path}`, 'E_UNSAFE_PATH', [0]);
  } catch (e) {
    return fail('keeper-socket', why(e), restart);
  }
  try {
    const answer = await askKeeper(path, 'ping', timeoutMs);
    if (!answer.startsWith('ok krb5bridge-keeper ')) return fail('keeper-socket', `${path} answered "${answer.slice(0, 120)}"`, restart);
    return ok('keeper-socket', `${path} is root's (mode ${modeString(st.mode)}) and the keeper answers: ${answer.slice(3)}`);
  } catch (e) {
    return fail('keeper-socket', `${path} is safe but nothing answers on it: ${why(e)}`, 'start the keeper: systemctl restart krb5bridge-keeper');
  }
}

function ccacheDirCheck(dir: string): Finding {
  const st = lstatSync(dir, { throwIfNoEntry: false });
  if (!st?.isDirectory()) return fail('ccache-dir', `${dir} is not a directory`, `create it (mode 1777 for /tmp) or set ccache_dir`);
  const mode = st.mode & 0o7777;
  if (mode & 0o002 && !(mode & 0o1000)) return fail('ccache-dir', `${dir} is writable by others but not sticky (mode ${modeString(mode)}): users could remove each other's ccaches`, `chmod 1777 ${dir}`);
  return ok('ccache-dir', `${dir} has mode ${modeString(mode)}${mode & 0o1000 ? ' (sticky)' : ''}`);
}

function protectedRegularCheck(): Finding {
  let v: string;
  try {
    v = readFileSync('/proc/sys/fs/protected_regular', 'utf8').trim();
  } catch (e) {
    return ok('protected-regular', `fs.protected_regular cannot be read (${why(e)}); krb5bridge does not depend on it`);
  }
  // krb5bridge creates job files O_EXCL|O_NOFOLLOW under new names and renames into place, so it
  // works with any value; 1 or 2 also keeps other root tools from opening files users planted.
  const note = v === '0' ? '; 1 or 2 also protects other root tools from files users plant in sticky directories (sysctl fs.protected_regular=2)' : '';
  return ok('protected-regular', `fs.protected_regular = ${v} (krb5bridge creates its files O_EXCL under new names, with any value)${note}`);
}

function nodeStateCheck(dir: string): Finding {
  const st = lstatSync(dir, { throwIfNoEntry: false });
  if (!st) return ok('node-state', `${dir} does not exist yet: created 0700 root at the first job`);
  if (!st.isDirectory() || st.uid !== 0 || st.mode & 0o077) {
    return fail('node-state', `${dir} must be a directory of root's with mode 0700; it is ${st.isDirectory() ? 'a directory' : 'not a directory'} of uid ${st.uid}, mode ${modeString(st.mode)}`, `chown root:root ${dir} && chmod 700 ${dir}`);
  }
  return ok('node-state', `${dir} is root's, mode ${modeString(st.mode)}`);
}

export const nodeChecks: CheckGroup = {
  roles: ['compute'],
  async run({ config }) {
    return [
      await keeperSocketCheck(config.keeper_socket, config.timeout * 1000),
      ccacheDirCheck(config.ccache_dir),
      protectedRegularCheck(),
      nodeStateCheck(config.state_dir ?? DEFAULT_NODE_STATE_DIR),
    ];
  },
};
