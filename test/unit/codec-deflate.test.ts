// Raw deflate against streams made by python3's zlib (every block type), partial decoding, and
// corrupt input, through both the native zlib path (full decodes) and pako's (partial ones).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { deflateRawDecompress, CorruptCompressedDataError, isOcifsErrorLike } from './codec-test-utils.js';
import { pseudoRandom, rawDeflate, textLike } from './codec-helpers.js';

const binary = new Uint8Array(readFileSync(process.execPath)).subarray(2 << 20, (2 << 20) + 65536);
const zeros = new Uint8Array(40000);
const inputs: [string, Uint8Array][] = [
  ['text', textLike(65536, 11)],
  ['binary', binary],
  ['random (stored blocks)', pseudoRandom(20000, 5)],
  ['zeros (long overlapping matches)', zeros],
  ['tiny', Uint8Array.of(42)],
];
const streams = inputs.flatMap(([name, plain]) =>
  [0, 1, 6, 9].map((level) => ({ name: `${name} level ${level}`, plain, compressed: rawDeflate(plain, level) })),
);

/** Partial decoding of the whole output: pako's path, which must stop exactly at the end. */
const viaPako = (c: Uint8Array, n: number) => deflateRawDecompress(c, n, { partial: true });

test('decodes python zlib streams at levels 0 (stored), 1, 6 and 9, through zlib and pako', () => {
  for (const s of streams) {
    assert.deepEqual(deflateRawDecompress(s.compressed, s.plain.length), s.plain, s.name);
    assert.deepEqual(viaPako(s.compressed, s.plain.length), s.plain, s.name);
  }
});

test('fixed-Huffman blocks and empty streams', () => {
  // zlib uses fixed codes for short inputs.
  const plain = new TextEncoder().encode('abcabcabcabc hello');
  const c = rawDeflate(plain, 9);
  assert.equal((c[0] >> 1) & 3, 1, 'fixed Huffman block');
  assert.deepEqual(deflateRawDecompress(c, plain.length), plain);
  assert.deepEqual(viaPako(c, plain.length), plain);
  const empty = rawDeflate(new Uint8Array(0));
  assert.deepEqual(deflateRawDecompress(empty, 0), new Uint8Array(0));
});

test('partial decoding returns the first outputSize bytes', () => {
  for (const s of streams.filter((x) => x.plain.length > 1000)) {
    for (const n of [0, 1, 100, 4095, 4096, 19999, s.plain.length - 1, s.plain.length]) {
      assert.deepEqual(
        deflateRawDecompress(s.compressed, n, { partial: true }),
        s.plain.subarray(0, n),
        `${s.name} n=${n}`,
      );
    }
  }
});

test('full decoding refuses a wrong size; trailing bytes after the final block are ignored', () => {
  const s = streams[2];
  const n = s.plain.length;
  for (const size of [n - 1, n + 1, 0])
    assert.throws(() => deflateRawDecompress(s.compressed, size), isOcifsErrorLike('deflate'), `size ${size}`);
  // Partial decoding still wants every byte it was asked for.
  assert.throws(
    () => viaPako(s.compressed, n + 1),
    (e: unknown) => isOcifsErrorLike('deflate')(e) && (e as CorruptCompressedDataError).data.outputOffset === n,
  );
  const trailing = new Uint8Array(s.compressed.length + 7).fill(0x33);
  trailing.set(s.compressed);
  assert.deepEqual(deflateRawDecompress(trailing, n), s.plain);
  assert.deepEqual(viaPako(trailing, n), s.plain);
});

test('errors from zlib carry the offset where pako stopped (total_in)', () => {
  const s = streams[1];
  const cut = s.compressed.subarray(0, s.compressed.length >> 1);
  assert.throws(
    () => deflateRawDecompress(cut, s.plain.length),
    (e: unknown) =>
      e instanceof CorruptCompressedDataError &&
      e.offset >= cut.length - 1 &&
      e.offset <= cut.length + 4 &&
      e.data.zlibCode === 'Z_BUF_ERROR',
  );
});

test('every truncation gives a typed error (full) or an error or the exact bytes (partial)', () => {
  const plain = textLike(3000, 2);
  const c = rawDeflate(plain, 9);
  let partialOk = 0;
  for (let len = 0; len < c.length; len++) {
    const cut = c.subarray(0, len);
    assert.throws(() => deflateRawDecompress(cut, plain.length), isOcifsErrorLike('deflate'), `len ${len}`);
    // Partial decoding stops once the output is full, so a stream cut inside its final
    // end-of-block code (at most 15 bits: two bytes) still yields every byte.
    try {
      assert.deepEqual(deflateRawDecompress(cut, plain.length, { partial: true }), plain);
      partialOk++;
    } catch (err) {
      assert.ok(isOcifsErrorLike('deflate')(err));
    }
  }
  assert.ok(partialOk <= 2, `${partialOk} truncations decoded`);
});

test('short fuzz: random byte flips never crash, hang or overrun the output size', () => {
  const set = streams.filter((s) => s.plain.length > 1000 && s.plain.length <= 65536);
  const r = pseudoRandom(30000, 99);
  let k = 0;
  const next = () => r[k++ % r.length];
  for (let round = 0; round < 1500; round++) {
    const s = set[round % set.length];
    const bad = s.compressed.slice();
    for (let f = 0; f < 1 + (next() & 3); f++) bad[((next() << 8) | next()) % bad.length] ^= 1 << (next() & 7);
    const n = s.plain.length;
    for (const [fn, want] of [
      [() => deflateRawDecompress(bad, n), n],
      [() => viaPako(bad, n), n],
      [() => viaPako(bad, n >> 1), n >> 1],
    ] as const) {
      try {
        assert.equal(fn().length, want);
      } catch (err) {
        assert.ok(err instanceof CorruptCompressedDataError, String(err));
      }
    }
  }
});
