// A short, deterministic run of scripts/fuzz-erofs.ts in the default suite: mutated fixture
// images must give OcifsErrors only, never another exception, a hang or running out of memory.
// The long run (10,000+ images): node --import tsx scripts/fuzz-erofs.ts --count 10000
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFuzz, exercise, mutate, fixChecksum, Rng } from '../../scripts/fuzz-erofs.js';
import { fixtureSource } from './erofs-helpers.js';
import { readAll } from './erofs-helpers.js';

test('fuzz: 80 mutated fixture images give only OcifsErrors, no hang, no OOM', async () => {
  const report = await runFuzz({ count: 80, seed: 20261129, workers: 2, budgetMs: 60_000, mkfs: false });
  assert.equal(report.images, 80);
  assert.deepEqual(report.bugs, []);
  // The mutants really were corrupt: the reader reported it.
  assert.ok((report.codes.ERR_OCIFS_CORRUPT_EROFS ?? 0) > 20, JSON.stringify(report.codes));
});

test('fuzz harness: a clean image exercises cleanly; mutation is deterministic', async () => {
  const clean = await readAll(fixtureSource('chunked'));
  const r = await exercise(clean);
  assert.deepEqual(r.bugs, []);
  assert.deepEqual(r.codes, {});
  assert.equal(r.entries, 1560); // the lines of tree-seed1.jsonl
  const copy = clean.slice();
  fixChecksum(copy);
  assert.deepEqual(copy, clean);
  const mk = (seed: number) => mutate(clean, [[1024, 1200]], new Rng(seed));
  assert.deepEqual(mk(5).bytes, mk(5).bytes);
  assert.notDeepEqual(mk(5).bytes, clean);
});
