/**
 * Every repository path that README.md and docs/*.md name in code (`helper/src/...`, `spank/...`,
 * `scripts/...`, `test/...`, `docs/...`, ..., inline or in a fenced block) exists. A glob must match
 * something; build outputs (`build/...`, `spank/krb5bridge.so`, `spank/errors.h`) exist after `make`.
 * Each document is its own test and lists each missing path as file:line.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const REPO = join(__dirname, '..', '..');
const DOCS = ['README.md', ...readdirSync(join(REPO, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const TOP = ['helper', 'spank', 'scripts', 'test', 'docs', 'bench', 'build', '.ci', 'debian', 'man', 'systemd', 'pam'];
const PATH = new RegExp(`^(?:${TOP.map((t) => t.replace('.', '\\.')).join('|')})/[A-Za-z0-9_.*/-]*$`);

/** Code spans and fenced-block lines of a markdown text, with their line numbers. */
function codeOf(text: string): { line: number; code: string }[] {
  const out: { line: number; code: string }[] = [];
  let fenced = false;
  text.split('\n').forEach((l, i) => {
    if (/^\s*```/.test(l)) {
      fenced = !fenced;
      return;
    }
    if (fenced) out.push({ line: i + 1, code: l });
    else for (const m of l.matchAll(/`([^`]+)`/g)) out.push({ line: i + 1, code: m[1] as string });
  });
  return out;
}

/** Does the repository hold this path (a `*` matches within one path component)? */
function exists(path: string): boolean {
  const clean = path.replace(/\/$/, '');
  if (!clean.includes('*')) return existsSync(join(REPO, clean));
  const parts = clean.split('/');
  const walk = (dir: string, i: number): boolean => {
    if (i === parts.length) return true;
    const part = parts[i] as string;
    if (!part.includes('*')) return existsSync(join(dir, part)) && walk(join(dir, part), i + 1);
    const re = new RegExp(`^${part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      return false;
    }
    return names.some((n) => re.test(n) && walk(join(dir, n), i + 1));
  };
  return walk(REPO, 0);
}

/** Repository paths named in one document: "file:line path". */
function pathsIn(doc: string): { where: string; path: string }[] {
  const found: { where: string; path: string }[] = [];
  for (const { line, code } of codeOf(readFileSync(join(REPO, doc), 'utf8'))) {
    for (const raw of code.split(/[\s,;()=]+/)) {
      const token = raw.replace(/^["'`]+/, '').replace(/[.,:;"'`]+$/, '').replace(/:\d+$/, '');
      if (PATH.test(token)) found.push({ where: `${doc}:${line}`, path: token });
    }
  }
  return found;
}

test('the documents name repository paths at all', () => {
  expect(DOCS.flatMap(pathsIn).length).toBeGreaterThan(20);
});

test.each(DOCS)('every repository path named in %s exists', (doc) => {
  const missing = pathsIn(doc).filter((p) => !exists(p.path)).map((p) => `${p.where} ${p.path}`);
  expect(missing).toEqual([]);
});
