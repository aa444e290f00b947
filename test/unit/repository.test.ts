// A checkout works on its own: no tracked file outside test/fixtures names a path beside the
// checkout (the project's early fixtures lived in a folder next to it, which a clone does not
// have), and the test data stays small.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '../..');
const tracked = existsSync(join(root, '.git'))
  ? execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' }).split('\0').filter(Boolean)
  : [];

test('no tracked file outside test/fixtures names ../shared', (t) => {
  if (tracked.length === 0) return t.skip('not a git checkout');
  const needle = ['..', 'shared'].join('/'); // spelled so that this file does not name it
  const bad = tracked.filter(
    (f) =>
      !f.startsWith('test/fixtures/') &&
      f !== 'test/unit/repository.test.ts' &&
      existsSync(join(root, f)) &&
      readFileSync(join(root, f), 'latin1').includes(needle),
  );
  assert.deepEqual(bad, []);
});

test('no tracked test file is over 1 MiB', (t) => {
  if (tracked.length === 0) return t.skip('not a git checkout');
  const big = tracked.filter(
    (f) => f.startsWith('test/') && existsSync(join(root, f)) && statSync(join(root, f)).size > 1 << 20,
  );
  assert.deepEqual(big, []);
});
