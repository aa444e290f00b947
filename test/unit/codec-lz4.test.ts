// LZ4 block decoding against blocks made by the real `lz4` CLI, partial decoding, and corrupt input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  lz4DecompressBlock,
  lz4NativeAvailable,
  CorruptCompressedDataError,
  isOcifsErrorLike,
} from './codec-test-utils.js';
import { lz4Blocks, pseudoRandom, textLike, type Sample } from './codec-helpers.js';

const binary = new Uint8Array(readFileSync(process.execPath)).subarray(1 << 20, (1 << 20) + 300_000);
const mixed = new Uint8Array(200_000);
mixed.set(textLike(100_000, 3));
mixed.set(pseudoRandom(20_000, 4), 100_000); // incompressible stretch
mixed.fill(0, 120_000, 170_000); // long run: overlapping matches with offset 1
mixed.set(textLike(30_000, 5), 170_000);
const data = new Uint8Array(binary.length + mixed.length);
data.set(binary);
data.set(mixed, binary.length);

const sets: [string, Sample[]][] = [];
for (const size of [4096, 16384, 65536]) {
  for (const level of [1, 9]) sets.push([`${size} B blocks, level ${level}`, lz4Blocks(data, size, level)]);
}

test('decodes every block the lz4 CLI makes (fast and HC, 4–64 KiB)', () => {
  for (const [name, blocks] of sets) {
    assert.ok(blocks.length > 3, name);
    for (const b of blocks) assert.deepEqual(lz4DecompressBlock(b.compressed, b.plain.length), b.plain, name);
  }
});

test('the native (lz4-napi) and TypeScript decoders agree on every block', () => {
  // Full decodes use lz4-napi where its binary loads (linux-x64 here); partial ones always use
  // the TypeScript decoder. OCIFS_LZ4_NATIVE=0 runs this whole file on the TypeScript decoder.
  if (process.env.OCIFS_LZ4_NATIVE !== '0') assert.equal(lz4NativeAvailable(), true);
  for (const [name, blocks] of sets) {
    for (const b of blocks)
      assert.deepEqual(
        lz4DecompressBlock(b.compressed, b.plain.length, { partial: true }),
        lz4DecompressBlock(b.compressed, b.plain.length),
        name,
      );
  }
});

test('partial decoding returns exactly the first outputSize bytes, mid-literal or mid-match', () => {
  const blocks = sets[1][1];
  for (const b of blocks.slice(0, 8)) {
    for (const n of [0, 1, 2, 17, 100, 1000, 2047, b.plain.length - 1, b.plain.length]) {
      assert.deepEqual(lz4DecompressBlock(b.compressed, n, { partial: true }), b.plain.subarray(0, n), `n=${n}`);
    }
    // Without 0-padding an EROFS cluster has bytes after the block: partial decoding ignores them.
    const padded = new Uint8Array(b.compressed.length + 100).fill(0xa5);
    padded.set(b.compressed);
    assert.deepEqual(lz4DecompressBlock(padded, b.plain.length, { partial: true }), b.plain);
  }
});

test('full decoding refuses a wrong size, trailing bytes and a stream that ends early', () => {
  const b = sets[0][1][0];
  const n = b.plain.length;
  for (const size of [n - 1, n + 1, 0]) {
    assert.throws(() => lz4DecompressBlock(b.compressed, size), isOcifsErrorLike('lz4'), `size ${size}`);
  }
  const trailing = new Uint8Array(b.compressed.length + 1);
  trailing.set(b.compressed);
  assert.throws(() => lz4DecompressBlock(trailing, n), isOcifsErrorLike('lz4'));
  assert.throws(() => lz4DecompressBlock(b.compressed, n + 1, { partial: true }), isOcifsErrorLike('lz4'));
});

test('hand-made blocks: empty block, offsets before the start, overlapping runs', () => {
  assert.deepEqual(lz4DecompressBlock(Uint8Array.of(0x00), 0), new Uint8Array(0));
  // 1 literal 'a', then a match of offset 1 and length 4+15+255+10 (= 284), then 5 literals.
  const run = Uint8Array.of(0x1f, 0x61, 0x01, 0x00, 0xff, 0x0a, 0x50, 0x62, 0x63, 0x64, 0x65, 0x66);
  const expect = new Uint8Array(290);
  expect.fill(0x61, 0, 285);
  expect.set([0x62, 0x63, 0x64, 0x65, 0x66], 285);
  assert.deepEqual(lz4DecompressBlock(run, 290), expect);
  assert.deepEqual(lz4DecompressBlock(run, 150, { partial: true }), expect.subarray(0, 150));
  // Offset 2 with only one byte before it, and offset 0.
  assert.throws(
    () => lz4DecompressBlock(Uint8Array.of(0x10, 0x61, 0x02, 0x00, 0x00), 10),
    (e: unknown) => e instanceof CorruptCompressedDataError && e.offset === 2,
  );
  assert.throws(() => lz4DecompressBlock(Uint8Array.of(0x10, 0x61, 0x00, 0x00, 0x00), 10), isOcifsErrorLike('lz4'));
  // A literal length that runs off the end of the input.
  assert.throws(() => lz4DecompressBlock(Uint8Array.of(0xf0, 0xff, 0xff), 1000), isOcifsErrorLike('lz4'));
  assert.throws(() => lz4DecompressBlock(new Uint8Array(0), 0), isOcifsErrorLike('lz4'));
});

test('every truncation of a block gives a typed error, full or partial', () => {
  const b = lz4Blocks(textLike(3000, 9), 4096, 9)[0];
  for (let len = 0; len < b.compressed.length; len++) {
    const cut = b.compressed.subarray(0, len);
    assert.throws(() => lz4DecompressBlock(cut, b.plain.length), isOcifsErrorLike('lz4'), `len ${len}`);
    assert.throws(
      () => lz4DecompressBlock(cut, b.plain.length, { partial: true }),
      isOcifsErrorLike('lz4'),
      `len ${len}`,
    );
  }
});

test('short fuzz: random byte flips never crash, hang or overrun the output size', () => {
  const blocks = sets[1][1].slice(0, 6);
  const r = pseudoRandom(20000, 77);
  let k = 0;
  for (let round = 0; round < 2000; round++) {
    const b = blocks[round % blocks.length];
    const bad = b.compressed.slice();
    for (let f = 0; f < 1 + (r[k++ % r.length] & 3); f++)
      bad[((r[k++ % r.length] << 8) | r[k++ % r.length]) % bad.length] ^= 1 << (r[k++ % r.length] & 7);
    const partial = (round & 1) === 1;
    try {
      const out = lz4DecompressBlock(bad, b.plain.length, { partial });
      assert.equal(out.length, b.plain.length);
    } catch (err) {
      assert.ok(err instanceof CorruptCompressedDataError, String(err));
    }
  }
});
