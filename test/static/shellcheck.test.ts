/**
 * shellcheck (Debian package shellcheck; scripts/deps installs it) on every shell script in
 * scripts/, pam/ and debian/ and on .ci/run, each file its own test, every finding (style included) a failure.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const REPO = join(__dirname, '..', '..');

/** Files whose first line names a POSIX shell or bash. */
const dirs = ['scripts', 'pam', 'debian'];
const scripts = [...dirs.flatMap((d) => readdirSync(join(REPO, d)).map((f) => `${d}/${f}`)), '.ci/run'].filter((f) => {
  const p = join(REPO, f);
  return statSync(p).isFile() && /^#!.*\b(ba)?sh\b/.test(readFileSync(p, 'utf8').split('\n', 1)[0] ?? '');
});

const haveShellcheck = spawnSync('shellcheck', ['--version']).status === 0;

test('there are shell scripts to check', () => {
  expect(scripts).toEqual(expect.arrayContaining(['scripts/testcluster', 'scripts/demo', '.ci/run']));
});

test.each(scripts)('%s is shellcheck-clean', (file) => {
  if (!haveShellcheck) throw new Error("shellcheck is not installed: run 'make deps' (Debian package shellcheck)");
  const r = spawnSync('shellcheck', ['--format', 'gcc', '--external-sources', file], { cwd: REPO, encoding: 'utf8' });
  expect(`${r.stdout}${r.stderr}`).toBe('');
  expect(r.status).toBe(0);
});
