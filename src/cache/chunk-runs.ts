/**
 * Runs of chunks: the one way the cache walks a presence map (or any per-chunk condition) to
 * find stretches to read, fetch, write or hash. The conditions are read lazily, at the moment
 * the walk reaches a chunk: a caller that awaits between runs sees chunks after the run it got
 * as they are when the walk resumes (other downloads may have filled them meanwhile).
 *
 * @packageDocumentation
 */

/** Chunks `[start, end)`. */
export type ChunkRun = readonly [start: number, end: number];

/**
 * The maximal runs of consecutive chunks in `[from, to)` for which `want(c)` holds, in order,
 * each cut after `maxRun` chunks (the rest continues as the next run). A walk resumed after a
 * run looks at the chunk that ended it again.
 */
export function* chunkRuns(
  from: number,
  to: number,
  want: (c: number) => boolean,
  maxRun = Infinity,
): Generator<ChunkRun> {
  for (let c = from; c < to;) {
    if (!want(c)) {
      c++;
      continue;
    }
    let e = c + 1;
    while (e < to && e - c < maxRun && want(e)) e++;
    yield [c, e];
    c = e;
  }
}

/**
 * The maximal runs of consecutive chunks in `[from, to)` on which `key` gives one same value,
 * skipping chunks where it gives `undefined`, in order (values compared with `===`). A walk
 * resumed after a run looks at the chunk that ended it again.
 */
export function* chunkRunsBy<K>(
  from: number,
  to: number,
  key: (c: number) => K | undefined,
): Generator<{ start: number; end: number; key: K }> {
  for (let c = from; c < to;) {
    const k = key(c);
    if (k === undefined) {
      c++;
      continue;
    }
    let e = c + 1;
    while (e < to && key(e) === k) e++;
    yield { start: c, end: e, key: k };
    c = e;
  }
}

/** The first chunk in `[from, to)` for which `want` does not hold, or `to`: where a run from `from` ends. */
export function runEnd(from: number, to: number, want: (c: number) => boolean): number {
  let c = from;
  while (c < to && want(c)) c++;
  return c;
}

/** True when `want` holds for every chunk of `[from, to)` (also when it is empty). */
export function everyChunk(from: number, to: number, want: (c: number) => boolean): boolean {
  return runEnd(from, to, want) === to;
}
