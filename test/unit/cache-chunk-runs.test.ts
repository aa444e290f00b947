// The chunk-run iterator every presence-map walk of the cache goes through: runs at the edges
// (empty range, nothing wanted, everything wanted, runs touching either end), max-run
// splitting, lazy evaluation (a walk resumed after a run sees the map as it is then), and the
// keyed variant that groups chunks by the task fetching them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkRuns, chunkRunsBy, everyChunk, runEnd } from '../../src/cache/chunk-runs.js';

/** A presence map from a string: '#' present, '.' missing. */
function map(s: string): (c: number) => boolean {
  return (c) => s[c] === '#';
}

const runs = (from: number, to: number, want: (c: number) => boolean, max?: number) => [
  ...chunkRuns(from, to, want, max),
];

test('an empty range or a map with nothing wanted has no runs', () => {
  assert.deepEqual(
    runs(0, 0, () => true),
    [],
  );
  assert.deepEqual(
    runs(5, 5, () => true),
    [],
  );
  assert.deepEqual(
    runs(7, 3, () => true),
    [],
    'a reversed range is empty',
  );
  assert.deepEqual(runs(0, 8, map('........')), []);
});

test('everything wanted is one run over the whole range', () => {
  assert.deepEqual(runs(0, 8, map('########')), [[0, 8]]);
  assert.deepEqual(runs(2, 6, map('########')), [[2, 6]], 'cut at both ends of the range');
});

test('runs touching the start and the end of the range, and single chunks', () => {
  assert.deepEqual(runs(0, 10, map('##..#.###.')), [
    [0, 2],
    [4, 5],
    [6, 9],
  ]);
  assert.deepEqual(
    runs(0, 10, map('.#..#.####')),
    [
      [1, 2],
      [4, 5],
      [6, 10],
    ],
    'a run across the end stops at it',
  );
  assert.deepEqual(runs(3, 8, map('##########')), [[3, 8]]);
  assert.deepEqual(runs(1, 4, map('#.##')), [[2, 4]]);
});

test('maxRun splits long runs into pieces of at most maxRun, the rest continuing', () => {
  assert.deepEqual(runs(0, 10, map('##########'), 4), [
    [0, 4],
    [4, 8],
    [8, 10],
  ]);
  assert.deepEqual(
    runs(0, 8, map('########'), 4),
    [
      [0, 4],
      [4, 8],
    ],
    'an exact multiple leaves no empty piece',
  );
  assert.deepEqual(runs(0, 9, map('###.#####'), 2), [
    [0, 2],
    [2, 3],
    [4, 6],
    [6, 8],
    [8, 9],
  ]);
  assert.deepEqual(runs(0, 4, map('####'), 1), [
    [0, 1],
    [1, 2],
    [2, 3],
    [3, 4],
  ]);
  assert.deepEqual(runs(0, 4, map('####'), 100), [[0, 4]]);
});

test('the map is read lazily: a walk resumed after a run sees chunks filled meanwhile', () => {
  const present = [false, false, true, false, false, false];
  const got: number[][] = [];
  for (const [a, b] of chunkRuns(0, present.length, (c) => !present[c])) {
    got.push([a, b]);
    // Fetching the first run also brought chunk 4 (another reader's download landed).
    if (a === 0) present[4] = true;
  }
  assert.deepEqual(got, [
    [0, 2],
    [3, 4],
    [5, 6],
  ]);
  // The chunk that ended a run is looked at again: one that became wanted is taken.
  const wanted = [true, false, true];
  const got2: number[][] = [];
  for (const [a, b] of chunkRuns(0, 3, (c) => wanted[c])) {
    got2.push([a, b]);
    wanted[1] = true;
  }
  assert.deepEqual(got2, [
    [0, 1],
    [1, 3],
  ]);
});

test('chunkRunsBy groups consecutive chunks with the same key and skips undefined ones', () => {
  const keys = ['a', 'a', undefined, 'b', 'b', 'a', undefined, undefined, 'c'];
  const got = [...chunkRunsBy(0, keys.length, (c) => keys[c])].map((r) => [r.start, r.end, r.key]);
  assert.deepEqual(got, [
    [0, 2, 'a'],
    [3, 5, 'b'],
    [5, 6, 'a'],
    [8, 9, 'c'],
  ]);
  assert.deepEqual([...chunkRunsBy(0, 0, () => 'x')], []);
  assert.deepEqual([...chunkRunsBy(0, 3, () => undefined)], []);
  // Objects compare by identity (two tasks over adjacent chunks are two runs).
  const t1 = { id: 1 };
  const t2 = { id: 1 };
  const objs = [t1, t1, t2];
  assert.deepEqual(
    [...chunkRunsBy(0, 3, (c) => objs[c])].map((r) => [r.start, r.end]),
    [
      [0, 2],
      [2, 3],
    ],
  );
});

test('runEnd and everyChunk', () => {
  assert.equal(runEnd(0, 6, map('###.##')), 3);
  assert.equal(runEnd(3, 6, map('###.##')), 3, 'a run that does not start is empty');
  assert.equal(runEnd(4, 6, map('###.##')), 6, 'a run across the end stops at it');
  assert.equal(
    runEnd(2, 2, () => false),
    2,
  );
  assert.equal(everyChunk(0, 3, map('###.')), true);
  assert.equal(everyChunk(0, 4, map('###.')), false);
  assert.equal(
    everyChunk(2, 2, () => false),
    true,
    'an empty range',
  );
});
