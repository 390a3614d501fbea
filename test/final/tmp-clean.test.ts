/**
 * Runs last (test/lib/sequencer.js): nothing the tests made is left in /tmp — cluster directories,
 * test KDCs, store test directories, job ccaches, push markers, the keeper's temporary ccaches,
 * other temporary directories. It compares /tmp with the snapshot test/lib/global-setup.js took
 * before the run, and lists each leftover with its owner, size and age.
 *
 * Other test runs may share this machine (other checkouts, older copies of the tests). An entry is
 * theirs, not this run's, when it existed before this run began, when it is a cluster directory
 * whose DIR/env names another run (TC_RUN), when a live process of another run refers to it (a
 * running KDC's KRB5_CONFIG, a job's KRB5CCNAME), or when it is a ccache named by a job record of
 * another run's live cluster. Cluster directories of this run always count. Any other leftover
 * counts when no other run was seen at the start or the end of this one (as in CI); when one was,
 * it cannot be told apart, and is only printed.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { otherRuns } from '../lib/other-runs';

/** The names this project's tests and clusters use in /tmp. */
const OURS = /^(krb5bridge|krb5cc_|\.krb5cc_|k5|kb)/;

interface Snapshot {
  run: string;
  entries: Record<string, number>;
  othersAtStart: string[];
}

function readOr(file: string, fallback = ''): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

/** TC_RUN of a cluster directory (undefined: not a cluster directory, or made outside a test run). */
function clusterRun(dir: string): string | undefined {
  const m = /^export TC_RUN=(\S*)$/m.exec(readOr(join(dir, 'env')));
  return m?.[1]?.replace(/^''$/, '') || undefined;
}

/** Everything each live process refers to: command line, environment, cwd, open files. */
function processReferences(): { run: string | undefined; refs: string[] }[] {
  const out: { run: string | undefined; refs: string[] }[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    const env = readOr(`/proc/${pid}/environ`).split('\0');
    const refs = [...readOr(`/proc/${pid}/cmdline`).split('\0'), ...env];
    for (const link of ['cwd', ...safeList(`/proc/${pid}/fd`).map((fd) => `fd/${fd}`)]) {
      try {
        refs.push(readlinkSync(`/proc/${pid}/${link}`));
      } catch {
        // the process or descriptor is gone
      }
    }
    const run = env.find((kv) => kv.startsWith('KRB5BRIDGE_TEST_RUN='))?.slice('KRB5BRIDGE_TEST_RUN='.length);
    out.push({ run, refs: refs.filter(Boolean) });
  }
  return out;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Does `s` name `path` itself or something inside it (not merely a longer name)? */
function names(s: string, path: string): boolean {
  let i = s.indexOf(path);
  while (i >= 0) {
    const next = s[i + path.length];
    if (next === undefined || !/[A-Za-z0-9._-]/.test(next)) return true;
    i = s.indexOf(path, i + 1);
  }
  return false;
}

function describeEntry(path: string): string {
  try {
    const st = lstatSync(path);
    const kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : st.isFile() ? 'file' : 'other';
    return `${path} (${kind}, uid ${st.uid}, ${Math.round((Date.now() - st.mtimeMs) / 1000)} s old)`;
  } catch {
    return path;
  }
}

test('the tests left nothing in /tmp', () => {
  const snapshotFile = process.env.KRB5BRIDGE_TMP_SNAPSHOT;
  const mine = process.env.KRB5BRIDGE_TEST_RUN;
  if (!snapshotFile || !mine) throw new Error('no /tmp snapshot: jest.config.js must run test/lib/global-setup.js');
  const before = JSON.parse(readFileSync(snapshotFile, 'utf8')) as Snapshot;

  const candidates: string[] = [];
  for (const name of readdirSync('/tmp')) {
    if (!OURS.test(name)) continue;
    const path = join('/tmp', name);
    let ino: number;
    try {
      ino = lstatSync(path).ino;
    } catch {
      continue;
    }
    if (before.entries[name] === ino) continue; // there before this run began
    const run = clusterRun(path);
    if (run !== undefined || readOr(join(path, 'env')) !== '') {
      if (run === mine) candidates.push(path); // a cluster directory: its env says whose it is
      continue;
    }
    candidates.push(path);
  }
  if (candidates.length === 0) return;

  // Other runs' live clusters and processes: what they still use is theirs.
  const procs = processReferences().filter((p) => p.run !== mine);
  const otherRecords = readdirSync('/tmp')
    .map((n) => join('/tmp', n))
    .filter((d) => readOr(join(d, 'env')) !== '' && clusterRun(d) !== mine)
    .flatMap((d) => safeList(join(d, 'node', 'jobs')).map((j) => readOr(join(d, 'node', 'jobs', j))));
  const left = candidates.filter(
    (path) =>
      clusterRun(path) === mine ||
      !(procs.some((p) => p.refs.some((r) => names(r, path))) || otherRecords.some((r) => names(r, path))),
  );
  if (left.length === 0) return;
  const list = left.map(describeEntry).join('\n');
  const others = [...before.othersAtStart, ...otherRuns(mine)];
  const surely = left.filter((p) => clusterRun(p) === mine);
  if (others.length > 0 && surely.length === 0) {
    console.warn(`/tmp holds ${left.length} new entr${left.length === 1 ? 'y' : 'ies'} that may be another run's (other runs: ${others.join('; ')}); run the tests alone to be sure:\n${list}`);
    return;
  }
  throw new Error(`the tests left ${left.length} entr${left.length === 1 ? 'y' : 'ies'} in /tmp:\n${list}`);
});
