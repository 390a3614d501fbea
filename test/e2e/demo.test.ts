/**
 * `make demo` is the README's first command: scripts/demo must pass three times in a row (each run
 * brings up its own cluster, runs alice's jobs, tears everything down and removes alice again).
 * A failed run fails its test with the demo's whole output.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO, isRoot } from '../lib/cluster';

const maybe = isRoot() ? test : test.skip;

maybe.each([1, 2, 3])('scripts/demo passes (run %i of 3 in a row)', (n) => {
  const r = spawnSync(join(REPO, 'scripts/demo'), [], { cwd: REPO, encoding: 'utf8', input: '', timeout: 240_000 });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0) throw new Error(`demo run ${n} of 3 exited ${r.status ?? r.signal}:\n${output}`);
  expect(output).toContain('demo passed');
}, 300_000);
