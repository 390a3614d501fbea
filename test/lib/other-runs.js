/**
 * Other test runs on this machine right now: Jest processes outside this run's process tree, and
 * live test clusters in /tmp of another run (DIR/env's TC_RUN is not this run's). Used by
 * global-setup.js at the start and test/final/tmp-clean.test.ts at the end: a leftover in /tmp
 * that no process or cluster ties to a run can only be blamed on this run when no other ran.
 */
const fs = require('node:fs');
const path = require('node:path');

const read = (f) => {
  try {
    return fs.readFileSync(f, 'utf8');
  } catch {
    return '';
  }
};

const ppidOf = (pid) => Number(/^\d+ \(.*\) \S (\d+)/s.exec(read(`/proc/${pid}/stat`))?.[1] ?? 0);
const argvOf = (pid) => read(`/proc/${pid}/cmdline`).split('\0').filter(Boolean);
const isJest = (pid) => argvOf(pid).some((a) => /(^|\/)jest(\.js)?$/.test(a) || /jest-worker/.test(a));

/** Is the process with this pid alive (not a zombie)? */
function alive(pid) {
  const state = /^State:\s+(\S)/m.exec(read(`/proc/${pid}/status`))?.[1];
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** Does any daemon of cluster directory DIR run? */
function clusterLive(dir) {
  let names = [];
  try {
    names = fs.readdirSync(path.join(dir, 'pid'));
  } catch {
    return false;
  }
  return names.some((n) => {
    const pid = Number(read(path.join(dir, 'pid', n)).trim());
    return pid > 0 && alive(pid) && read(`/proc/${pid}/environ`).split('\0').includes(`TC_DIR=${dir}`);
  });
}

/** One line per other run seen now. */
function otherRuns(myRun) {
  // This run's process tree hangs off its outermost Jest process.
  let root = process.pid;
  for (let p = process.pid; p > 1; p = ppidOf(p)) if (isJest(p)) root = p;
  const inMyTree = (pid) => {
    for (let p = pid; p > 1; p = ppidOf(p)) if (p === root) return true;
    return false;
  };
  const out = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number)) {
    if (!isJest(pid) || inMyTree(pid)) continue;
    let cwd = '?';
    try {
      cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      // gone
    }
    out.push(`jest pid ${pid} in ${cwd}`);
  }
  for (const name of fs.readdirSync('/tmp')) {
    const dir = path.join('/tmp', name);
    const env = read(path.join(dir, 'env'));
    const run = /^export TC_RUN=(\S*)$/m.exec(env)?.[1];
    if (env && run !== myRun && clusterLive(dir)) out.push(`cluster ${dir} (run ${run || 'unnamed'})`);
  }
  return out;
}

module.exports = { otherRuns };
