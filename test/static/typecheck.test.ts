/**
 * `tsc --noEmit` over tsconfig.json (the helper, the tests, the benchmarks): ts-jest with
 * isolatedModules only transpiles, so without this no type is ever checked. One test per area, so
 * a problem in one part does not hide the state of the others; each lists its errors.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const REPO = join(__dirname, '..', '..');
const AREAS = ['helper/src', 'test', 'bench'];

let errors: string[] = [];
let failure = '';

beforeAll(() => {
  const tsc = join(REPO, 'node_modules', '.bin', 'tsc');
  const r = spawnSync(tsc, ['--noEmit', '--pretty', 'false', '-p', 'tsconfig.json'], { cwd: REPO, encoding: 'utf8', timeout: 300_000 });
  if (r.error) {
    failure = `cannot run ${tsc} (${r.error.message}): run 'make deps'`;
    return;
  }
  // Each diagnostic starts "path(line,col): error TSnnnn: ..."; continuation lines are indented.
  errors = r.stdout.split('\n').filter((l) => /^\S.*: error TS\d+:/.test(l));
  if (r.status !== 0 && errors.length === 0) failure = `tsc exited ${r.status}:\n${r.stdout}${r.stderr}`;
}, 300_000);

test.each(AREAS)('%s type-checks', (area) => {
  if (failure) throw new Error(failure);
  const mine = errors.filter((l) => l.startsWith(`${area}/`));
  expect(mine).toEqual([]);
});

test('no type error outside the checked areas', () => {
  if (failure) throw new Error(failure);
  expect(errors.filter((l) => !AREAS.some((a) => l.startsWith(`${a}/`)))).toEqual([]);
});
