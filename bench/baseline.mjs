// Another revision of this project, built, to measure against in the same run (BENCH_BASELINE):
// a git worktree of it in a temporary directory that test users can read (its test cluster loads
// the plugin and helper from its own checkout), `npm ci` and `make build` there.
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

function run(cmd, args, opts = {}) {
  return spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

/** The short commit hash of `rev` in `repo`, or an error that says what was given. */
export function resolveRevision(repo, rev) {
  const r = run('git', ['-C', repo, 'rev-parse', '--verify', '--short', `${rev}^{commit}`]);
  if (r.status !== 0) throw new Error(`BENCH_BASELINE=${rev} is not a commit of ${repo}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** HEAD's short hash, with "+ changes" when the work tree differs from it (it is what was built). */
export function describeCheckout(repo) {
  const head = run('git', ['-C', repo, 'rev-parse', '--short', 'HEAD']).stdout.trim();
  const dirty = run('git', ['-C', repo, 'status', '--porcelain']).stdout.trim() !== '';
  return dirty ? `${head} + changes` : head;
}

/**
 * A built worktree of `rev`: { rev, repo (its checkout), remove() }. `remove` takes the worktree
 * away (git worktree remove --force) and its temporary directory; it is safe to call more than
 * once, and after a failure at any point (the caller calls it from `finally`).
 */
export function checkoutBaseline(repo, rev, say = console.log) {
  const short = resolveRevision(repo, rev);
  const tmp = mkdtempSync('/tmp/krb5bridge-baseline-');
  chmodSync(tmp, 0o755);
  const src = join(tmp, 'src');
  const log = join(tmp, 'build.log');
  const baseline = {
    rev: short,
    repo: src,
    remove() {
      if (existsSync(src)) {
        const r = run('git', ['-C', repo, 'worktree', 'remove', '--force', src]);
        if (r.status !== 0) say(`warning: git worktree remove --force ${src} failed: ${r.stderr.trim()}`);
      }
      rmSync(tmp, { recursive: true, force: true });
    },
  };
  try {
    const steps = [
      ['git', ['-C', repo, 'worktree', 'add', '--detach', src, short]],
      ['npm', ['ci', '--no-audit', '--no-fund'], { cwd: src }],
      ['make', ['build'], { cwd: src }],
    ];
    say(`baseline ${short}: worktree ${src}, npm ci, make build (log ${log})`);
    for (const [cmd, args, opts] of steps) {
      const out = openSync(log, 'a');
      const r = spawnSync(cmd, args, { stdio: ['ignore', out, out], ...opts });
      closeSync(out);
      if (r.status !== 0) {
        const tail = readFileSync(log, 'utf8').trimEnd().split('\n').slice(-15).join('\n');
        throw new Error(`baseline ${short}: ${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${tail}`);
      }
    }
  } catch (e) {
    baseline.remove();
    throw e;
  }
  return baseline;
}
