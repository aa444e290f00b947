// The segmented source under the gzip, TOC and zstd readers: segment search, reads stitched
// across segments, the byte budget of decoded segments, and decodes shared by concurrent reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReadOptions } from '../../src/io/byte-source.js';
import { SegmentedSource } from '../../src/tar/segmented-source.js';

/** Byte `x` of the decoded stream. */
const byteAt = (x: number) => (x * 7 + 3) & 255;

/** Segments of the given lengths; decode(i) makes its bytes, counting decodes and failing on demand. */
class Stripes extends SegmentedSource {
  readonly decodes: number[];
  failNext = false;
  /** Decodes wait for this before finishing (when set). */
  gate: Promise<void> | undefined;
  signals: (AbortSignal | undefined)[] = [];

  constructor(lengths: number[], cacheBytes: number) {
    const starts: number[] = [];
    let at = 0;
    for (const n of lengths) {
      starts.push(at);
      at += n;
    }
    super(starts, at, { bytes: cacheBytes, option: 'stripeCacheBytes' });
    this.decodes = lengths.map(() => 0);
  }

  protected async decode(i: number, options: ReadOptions): Promise<Uint8Array> {
    this.decodes[i]++;
    this.signals.push(options.signal);
    await this.gate;
    if (this.failNext) {
      this.failNext = false;
      throw new Error(`segment ${i} failed`);
    }
    const start = this.segmentStart(i);
    const out = new Uint8Array(this.segmentEnd(i) - start);
    for (let k = 0; k < out.length; k++) out[k] = byteAt(start + k);
    return out;
  }
}

const expected = (offset: number, n: number) => Uint8Array.from({ length: n }, (_, k) => byteAt(offset + k));

test('every read, within a segment or across several (empty ones too), gives the stream bytes', async () => {
  const s = new Stripes([5, 0, 17, 1, 0, 30, 8], 1 << 20);
  assert.equal(s.size, 61);
  for (let off = 0; off <= s.size; off++) {
    for (const n of [0, 1, 2, 6, 18, 40, 100]) {
      const want = expected(off, Math.max(0, Math.min(n, s.size - off)));
      assert.deepEqual(await s.read(off, n), want, `read(${off}, ${n})`);
    }
  }
  // Each segment was decoded once: the budget holds them all.
  assert.deepEqual(s.decodes, [1, 0, 1, 1, 0, 1, 1]);
  assert.equal(s.segmentAt(5), 2, 'an empty segment is never the one holding an offset');
});

test('the byte budget evicts the least recently used segments', async () => {
  const s = new Stripes([100, 100, 100], 250);
  await s.read(0, 1);
  await s.read(100, 1);
  await s.read(200, 1); // evicts segment 0
  await s.read(150, 1);
  await s.read(0, 1); // decoded again; evicts segment 2, the least recently used
  await s.read(100, 1);
  assert.deepEqual(s.decodes, [2, 1, 1]);
  await s.read(200, 1);
  assert.deepEqual(s.decodes, [2, 1, 2]);
});

test('a segment larger than the whole budget is kept alone, so reads inside it decode it once', async () => {
  for (const budget of [0, 10]) {
    const s = new Stripes([100, 100], budget);
    for (let off = 0; off < 100; off += 10) assert.deepEqual(await s.read(off, 10), expected(off, 10));
    assert.deepEqual(s.decodes, [1, 0], `budget ${budget}`);
    await s.read(100, 10);
    await s.read(0, 10);
    assert.deepEqual(s.decodes, [2, 1], `budget ${budget}: the next segment replaced it`);
  }
});

test('concurrent reads of a segment share one decode, which gets the first reader’s options', async () => {
  const s = new Stripes([64, 64, 64], 1 << 20);
  let open!: () => void;
  s.gate = new Promise((r) => (open = r));
  const first = new AbortController();
  const reads = [s.read(10, 100, { signal: first.signal }), s.read(0, 64), s.read(70, 5), s.read(120, 60)];
  await new Promise((r) => setImmediate(r));
  open();
  const got = await Promise.all(reads);
  assert.deepEqual(got, [expected(10, 100), expected(0, 64), expected(70, 5), expected(120, 60)]);
  assert.deepEqual(s.decodes, [1, 1, 1]);
  assert.equal(s.signals[0], first.signal);
});

test('a segment evicted while it decodes still reaches the reads waiting for it', async () => {
  const s = new Stripes([100, 100, 100], 100);
  let open!: () => void;
  s.gate = new Promise((r) => (open = r));
  const a = s.read(0, 100);
  const b = s.read(100, 100); // evicts segment 0's decode from the cache
  await new Promise((r) => setImmediate(r));
  open();
  assert.deepEqual(await a, expected(0, 100));
  assert.deepEqual(await b, expected(100, 100));
  assert.deepEqual(s.decodes, [1, 1, 0]);
});

test('a failed decode is not kept: the next read decodes again', async () => {
  const s = new Stripes([50, 50], 1 << 20);
  s.failNext = true;
  await assert.rejects(s.read(60, 10), /segment 1 failed/);
  assert.deepEqual(await s.read(60, 10), expected(60, 10));
  assert.deepEqual(s.decodes, [0, 2]);
});

test('a bad cache size is refused with the option’s name', () => {
  for (const bad of [-1, 1.5, Number.NaN]) assert.throws(() => new Stripes([1], bad), /stripeCacheBytes/);
});
