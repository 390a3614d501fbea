/**
 * The C tests of the SPANK plugin (test/spank/*.c, TAP). `make spank-tests` builds them; each
 * program runs once natively (every TAP line becomes one jest test, so CI counts the C checks)
 * and once under valgrind (one test per program: no memory errors, no leaks, all checks pass).
 * The programs run when this file loads, because jest needs the test list up front.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const REPO = resolve(__dirname, '../..');
const DIR = join(REPO, 'test/spank');

interface TapLine {
  ok: boolean;
  name: string;
  detail: string[];
}

interface TapRun {
  lines: TapLine[];
  planned: number | undefined;
  status: number | null;
  output: string;
}

/** Parse TAP: "ok N - name", "not ok N - name" and the "#" lines after a failure. */
function parseTap(output: string): Pick<TapRun, 'lines' | 'planned'> {
  const lines: TapLine[] = [];
  let planned: number | undefined;
  for (const raw of output.split('\n')) {
    const m = /^(not )?ok \d+ - (.*)$/.exec(raw);
    if (m) lines.push({ ok: !m[1], name: m[2] as string, detail: [] });
    else if (raw.startsWith('#') && lines.length > 0) lines[lines.length - 1]?.detail.push(raw);
    const plan = /^1\.\.(\d+)$/.exec(raw);
    if (plan) planned = Number(plan[1]);
  }
  return { lines, planned };
}

function run(argv: string[]): TapRun {
  const r = spawnSync(argv[0] as string, argv.slice(1), { cwd: REPO, encoding: 'utf8', timeout: 120_000 });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  return { ...parseTap(r.stdout ?? ''), status: r.status, output };
}

let buildError: string | undefined;
try {
  execFileSync('make', ['--no-print-directory', 'spank-tests'], { cwd: REPO, encoding: 'utf8', stdio: 'pipe' });
} catch (e) {
  const err = e as { stdout?: string; stderr?: string; message: string };
  buildError = `${err.stdout ?? ''}${err.stderr ?? ''}` || err.message;
}

const programs = existsSync(DIR)
  ? readdirSync(DIR).filter((f) => f.endsWith('.c') && f !== 'fake_spank.c').map((f) => f.replace(/\.c$/, '.t'))
  : [];
const haveValgrind = spawnSync('valgrind', ['--version']).status === 0;

describe('C tests of the SPANK plugin', () => {
  test('make spank-tests builds them with -Wall -Wextra -Werror', () => {
    expect(buildError).toBeUndefined();
  });
  if (buildError !== undefined) return;

  for (const prog of programs) {
    const res = run([join(DIR, prog)]);
    describe(prog, () => {
      test('runs to its plan and exits 0', () => {
        expect({ status: res.status, planned: res.planned, seen: res.lines.length }).toEqual({
          status: 0,
          planned: res.lines.length,
          seen: res.lines.length,
        });
      });
      res.lines.forEach((line, i) => {
        const skip = /# SKIP/.test(line.name);
        (skip ? test.skip : test)(`${i + 1} ${line.name}`, () => {
          if (!line.ok) throw new Error([`not ok: ${line.name}`, ...line.detail].join('\n'));
        });
      });
    });
  }

  (haveValgrind ? describe : describe.skip)('under valgrind', () => {
    for (const prog of programs) {
      test(`${prog}: no memory errors or leaks`, () => {
        const res = run(['valgrind', '-q', '--error-exitcode=99', '--leak-check=full', join(DIR, prog)]);
        const failed = res.lines.filter((l) => !l.ok).map((l) => l.name);
        expect({ status: res.status, failed, valgrind: res.output.split('\n').filter((l) => /^==\d+==/.test(l)) })
          .toEqual({ status: 0, failed: [], valgrind: [] });
      });
    }
  });
});
