/** The Node.js running krb5bridge (20 or later: koffi 3 and the bundle's target). */
import { type CheckGroup, fail, ok } from './types';

export const MIN_NODE_MAJOR = 20;

export const runtimeChecks: CheckGroup = {
  roles: ['login', 'compute', 'store', 'gateway'],
  run() {
    const v = process.versions.node;
    const major = Number(v.split('.')[0]);
    if (major >= MIN_NODE_MAJOR) return [ok('node', `Node.js ${v} at ${process.execPath} (${MIN_NODE_MAJOR} or later needed)`)];
    return [fail('node', `Node.js ${v} at ${process.execPath} is too old`, `install Node.js ${MIN_NODE_MAJOR} or later (NodeSource's nodejs package; Debian 12's is 18) and point node= in plugstack.conf at it`)];
  },
};
