/**
 * ESLint (eslint.config.mjs: eslint's and typescript-eslint's recommended rules) over the helper,
 * the tests, the benchmarks and the JavaScript build scripts and configs. One test per area, so a
 * problem in one part does not hide the state of the others; each lists file:line rule message.
 */
import { spawnSync } from 'node:child_process';
import { join, relative } from 'node:path';

const REPO = join(__dirname, '..', '..');
const AREAS = ['helper/src', 'test', 'bench', 'scripts'];

interface Message {
  ruleId: string | null;
  message: string;
  line: number;
  severity: number;
}
interface FileResult {
  filePath: string;
  messages: Message[];
}

let problems: string[] = [];
let failure = '';

beforeAll(() => {
  const eslint = join(REPO, 'node_modules', '.bin', 'eslint');
  const r = spawnSync(eslint, ['--format', 'json', '.'], { cwd: REPO, encoding: 'utf8', timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) {
    failure = `cannot run ${eslint} (${r.error.message}): run 'make deps'`;
    return;
  }
  try {
    const results = JSON.parse(r.stdout) as FileResult[];
    problems = results.flatMap((f) =>
      f.messages.map((m) => `${relative(REPO, f.filePath)}:${m.line} ${m.ruleId ?? 'parse-error'} ${m.message}`),
    );
  } catch {
    failure = `eslint exited ${r.status} without a JSON report:\n${r.stdout}${r.stderr}`;
  }
}, 300_000);

test.each(AREAS)('%s is lint-clean', (area) => {
  if (failure) throw new Error(failure);
  expect(problems.filter((p) => p.startsWith(`${area}/`))).toEqual([]);
});

test('the configs and anything else linted are lint-clean', () => {
  if (failure) throw new Error(failure);
  expect(problems.filter((p) => !AREAS.some((a) => p.startsWith(`${a}/`)))).toEqual([]);
});
