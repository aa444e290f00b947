/**
 * containerd's filter syntax (`filters` package) for List: a request carries filters that are
 * OR-ed; each is `,`-separated clauses that are AND-ed; a clause is a field path alone
 * (present) or with `==`, `!=` or `~=` (regular expression) and a value, quoted (`"…"`, Go
 * escapes) or bare. Field paths are dot-separated; a component may be quoted:
 * `labels."containerd.io/snapshot.ref"==sha256:…,parent=="default/3/sha256:…"`. containerd's
 * metadata store sends exactly that to find the snapshot a remote Prepare committed.
 *
 * Snapshot fields: `name`, `parent`, `kind` (`active`, `view`, `committed`), `labels.KEY`.
 *
 * @packageDocumentation
 */
import { SnapshotError } from './errors.js';

/** The fields a filter can test. */
export interface Filterable {
  name: string;
  parent: string;
  kind: string;
  labels: Record<string, string>;
}

interface Clause {
  path: string[];
  op?: '==' | '!=' | '~=';
  value?: string;
  re?: RegExp;
}

/** A compiled list of filters: matches when any filter matches. */
export type SnapshotFilter = (s: Filterable) => boolean;

function bad(filter: string, why: string): SnapshotError {
  return new SnapshotError('invalid-argument', `filter ${JSON.stringify(filter)}: ${why}`, { data: { filter } });
}

/** Reads a quoted string at `s[i]` (a `"`); returns its value and the index after it. */
function quoted(filter: string, s: string, i: number): [string, number] {
  let j = i + 1;
  let raw = '"';
  while (j < s.length && s[j] !== '"') {
    if (s[j] === '\\') raw += s[j++];
    raw += s[j++];
  }
  if (j >= s.length) throw bad(filter, 'unterminated quote');
  try {
    return [JSON.parse(raw + '"') as string, j + 1];
  } catch {
    throw bad(filter, 'bad escape in a quoted string');
  }
}

function parseClause(filter: string, s: string, start: number): [Clause, number] {
  const path: string[] = [];
  let i = start;
  for (;;) {
    if (s[i] === '"') {
      const [v, next] = quoted(filter, s, i);
      path.push(v);
      i = next;
    } else {
      const m = /^[A-Za-z0-9_]+/.exec(s.slice(i));
      if (!m) throw bad(filter, `expected a field name at ${i}`);
      path.push(m[0]);
      i += m[0].length;
    }
    if (s[i] !== '.') break;
    i++;
  }
  const op = s.slice(i, i + 2);
  if (op !== '==' && op !== '!=' && op !== '~=') return [{ path }, i];
  i += 2;
  let value: string;
  if (s[i] === '"') [value, i] = quoted(filter, s, i);
  else {
    const m = /^[^,|"]*/.exec(s.slice(i))!;
    value = m[0];
    i += value.length;
  }
  const clause: Clause = { path, op, value };
  if (op === '~=') {
    try {
      clause.re = new RegExp(value);
    } catch {
      throw bad(filter, `bad regular expression ${JSON.stringify(value)}`);
    }
  }
  return [clause, i];
}

/** A field's value; name, parent and kind are always present (empty for none), as in containerd's adaptor. */
function fieldOf(s: Filterable, path: string[]): string | undefined {
  if (path.length === 1 && (path[0] === 'name' || path[0] === 'parent' || path[0] === 'kind')) return s[path[0]];
  if (path[0] === 'labels' && path.length >= 2) return s.labels[path.slice(1).join('.')];
  return undefined;
}

function matches(s: Filterable, c: Clause): boolean {
  const v = fieldOf(s, c.path);
  if (!c.op) return v !== undefined;
  if (c.op === '==') return v === c.value;
  if (c.op === '!=') return v !== c.value;
  return v !== undefined && c.re!.test(v);
}

/** Compiles a List request's filters; none (or only empty ones) match everything. */
export function compileFilters(filters: readonly string[]): SnapshotFilter {
  const compiled: Clause[][] = [];
  for (const f of filters) {
    if (!f.trim()) continue;
    const clauses: Clause[] = [];
    let i = 0;
    for (;;) {
      const [c, next] = parseClause(f, f, i);
      clauses.push(c);
      i = next;
      if (i >= f.length) break;
      if (f[i] !== ',') throw bad(f, `unexpected ${JSON.stringify(f[i])} at ${i}`);
      i++;
    }
    compiled.push(clauses);
  }
  if (compiled.length === 0) return () => true;
  return (s) => compiled.some((clauses) => clauses.every((c) => matches(s, c)));
}
