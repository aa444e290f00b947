// The error codes are one closed list (OCIFS_ERROR_CODES, the type OcifsErrorCode): every code
// written in src is on it, every code on it is used and documented in the README's table, each
// code is given by one class (subclasses aside), and no error is built inline from a literal code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { OCIFS_ERROR_CODES, isOcifsErrorCode } from '../../src/errors.js';

const root = resolve(import.meta.dirname, '../..');
const src = join(root, 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : /\.tsx?$/.test(n) ? [p] : [];
  });
}

const sources = files(src).map((f) => ({ file: relative(root, f), text: readFileSync(f, 'utf8') }));

/** Every `ERR_OCIFS_…` in the sources (prefixes such as `ERR_OCIFS_CACHE_*` in comments aside). */
function codesIn(text: string): string[] {
  return [...text.matchAll(/ERR_OCIFS_[A-Z0-9_]*/g)].map((m) => m[0]).filter((c) => !c.endsWith('_'));
}

test('every code written in src is in OCIFS_ERROR_CODES', () => {
  const unknown = sources.flatMap(({ file, text }) =>
    codesIn(text)
      .filter((c) => !isOcifsErrorCode(c))
      .map((c) => `${file}: ${c}`),
  );
  assert.deepEqual(unknown, []);
});

test('every code in the list is used in src and listed once', () => {
  assert.equal(new Set(OCIFS_ERROR_CODES).size, OCIFS_ERROR_CODES.length);
  const used = new Set(sources.filter(({ file }) => file !== 'src/errors.ts').flatMap(({ text }) => codesIn(text)));
  const errorsTs = readFileSync(join(src, 'errors.ts'), 'utf8');
  const usedInErrorsTs = new Set([...errorsTs.matchAll(/super\(\s*'(ERR_OCIFS_[A-Z0-9_]+)'/g)].map((m) => m[1]));
  assert.deepEqual(
    OCIFS_ERROR_CODES.filter((c) => !used.has(c) && !usedInErrorsTs.has(c)),
    [],
  );
});

test('every code is documented in the README error table', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const rows = new Set([...readme.matchAll(/^\| `(ERR_OCIFS_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]));
  assert.deepEqual(
    OCIFS_ERROR_CODES.filter((c) => !rows.has(c)),
    [],
  );
  assert.deepEqual(
    [...rows].filter((c) => !isOcifsErrorCode(c)),
    [],
  );
});

test('each code is given by one class, and no error is built inline from a literal code', () => {
  const givenBy = new Map<string, string[]>();
  const inline: string[] = [];
  for (const { file, text } of sources) {
    for (const m of text.matchAll(/super\(\s*'(ERR_OCIFS_[A-Z0-9_]+)'/g)) {
      givenBy.set(m[1], [...(givenBy.get(m[1]) ?? []), file]);
    }
    for (const m of text.matchAll(/new \w*Error\(\s*['"`](ERR_OCIFS_[A-Z0-9_]+)/g)) inline.push(`${file}: ${m[1]}`);
  }
  assert.deepEqual(
    [...givenBy].filter(([, where]) => where.length > 1),
    [],
  );
  assert.deepEqual(inline, []);
});
