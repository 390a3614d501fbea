/**
 * Slurm hostlist expressions -> host names: `node[01-03,7],gpu[1-2]-ib` is node01 node02 node03
 * node7 gpu1-ib gpu2-ib. Zero padding follows the range's first number; several bracket groups in
 * one name multiply. Bounded: an expression that would expand to more than `max` names is refused.
 */
import { Krb5BridgeError } from '../errors';

function bad(expr: string, why: string): Krb5BridgeError {
  return new Krb5BridgeError('E_JOB_CHECK', `cannot read the host list "${expr.slice(0, 80)}": ${why}`);
}

/** Split at commas that are outside brackets. */
function topLevel(expr: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < expr.length; i++) {
    const ch = expr[i];
    if (ch === '[') depth++;
    else if (ch === ']') depth--;
    else if (ch === ',' && depth === 0) {
      out.push(expr.slice(start, i));
      start = i + 1;
    }
    if (depth < 0 || depth > 1) throw bad(expr, 'unbalanced brackets');
  }
  if (depth !== 0) throw bad(expr, 'unbalanced brackets');
  out.push(expr.slice(start));
  return out.filter((s) => s !== '');
}

function expandRanges(body: string, expr: string): string[] {
  const out: string[] = [];
  for (const part of body.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw bad(expr, `"${part.slice(0, 20)}" is not a number or range`);
    const lo = Number(m[1]);
    const hi = Number(m[2] ?? m[1]);
    if (hi < lo || hi - lo > 1_000_000) throw bad(expr, `range ${part.slice(0, 20)}`);
    const width = m[1]!.length;
    for (let n = lo; n <= hi; n++) out.push(String(n).padStart(width, '0'));
  }
  return out;
}

export function expandHostlist(expr: string, max = 1_000_000): string[] {
  const names: string[] = [];
  for (const item of topLevel(expr.trim())) {
    let acc = [''];
    const re = /([^[\]]*)(?:\[([^\]]*)\])?/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(item)) !== null && m[0] !== '') {
      const prefix = m[1]!;
      const nums = m[2] === undefined ? [''] : expandRanges(m[2], expr);
      const next: string[] = [];
      for (const a of acc) for (const n of nums) next.push(a + prefix + n);
      if (next.length + names.length > max) throw bad(expr, `more than ${max} names`);
      acc = next;
    }
    names.push(...acc);
  }
  return names;
}
