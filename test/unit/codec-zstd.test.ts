// zstd: one-shot, streaming and frame scanning against streams made by the real `zstd` CLI,
// the zstd.erofs fixture's clusters, and corrupt input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  zstdDecompress,
  createZstdDecoder,
  zstdDecompressStream,
  scanZstdFrames,
  parseZstdFrameHeader,
  stripZeroPadding,
  decompress,
  CorruptCompressedDataError,
  isOcifsErrorLike,
  type ZstdStreamFrame,
} from './codec-test-utils.js';
import { cli, pseudoRandom, textLike } from './codec-helpers.js';
import { fixturePath } from './erofs-helpers.js';

const binary = new Uint8Array(readFileSync(process.execPath)).subarray(4 << 20, (4 << 20) + 300_000);
const mixed = new Uint8Array(400_000);
mixed.set(textLike(200_000, 31));
mixed.set(pseudoRandom(50_000, 32), 200_000); // raw blocks
mixed.fill(7, 250_000, 330_000); // RLE blocks and long matches
mixed.set(textLike(70_000, 33), 330_000);
const zstd = (data: Uint8Array, ...args: string[]) => cli('zstd', ['-q', '-c', ...args], data);

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A skippable frame with magic variant `v` around `data`. */
function skippable(v: number, data: Uint8Array): Uint8Array {
  const f = new Uint8Array(8 + data.length);
  const dv = new DataView(f.buffer);
  dv.setUint32(0, 0x184d2a50 + v, true);
  dv.setUint32(4, data.length, true);
  f.set(data, 8);
  return f;
}

const cases: [string, Uint8Array, string[]][] = [
  ['level 1', mixed, ['-1']],
  ['level 3, no checksum', mixed, ['-3', '--no-check']],
  ['level 19', binary, ['-19']],
  ['level 9 with --long=24 window', binary, ['-9', '--long=24']],
  ['ultra 22', mixed.subarray(0, 100_000), ['--ultra', '-22']],
  ['negative level (fast)', binary, ['--fast=3']],
  ['tiny', Uint8Array.of(1, 2, 3), ['-3']],
  ['empty', new Uint8Array(0), ['-3']],
];

test('one-shot decoding of zstd CLI output at many levels and window sizes', () => {
  for (const [name, plain, args] of cases) {
    const c = zstd(plain, ...args);
    assert.deepEqual(zstdDecompress(c, plain.length), plain, name);
    // stdin input has no content size; a file-like input with --content-size (the default when
    // the size is known) goes through the single-segment path.
    const withSize = cli('zstd', ['-q', '-c', ...args, `--stream-size=${plain.length}`], plain);
    assert.equal(parseZstdFrameHeader(withSize, 0)?.contentSize, plain.length, name);
    assert.deepEqual(zstdDecompress(withSize, plain.length), plain, name);
    assert.deepEqual(decompress('zstd', withSize, plain.length), plain, name);
  }
});

test('several frames and skippable frames decode as one stream; scanZstdFrames reports them', () => {
  const a = mixed.subarray(0, 150_000);
  const b = binary.subarray(0, 90_000);
  const fa = zstd(a, '-5');
  const fb = zstd(b, '-1', '--no-check');
  const skip = skippable(14, new TextEncoder().encode('{"toc":true}'));
  const all = concat([skippable(0, new Uint8Array(0)), fa, skip, fb]);
  assert.deepEqual(zstdDecompress(all, a.length + b.length), concat([a, b]));
  const frames = scanZstdFrames(all);
  assert.deepEqual(
    frames.map((f) => [f.type, f.offset, f.compressedSize]),
    [
      ['skippable', 0, 8],
      ['frame', 8, fa.length],
      ['skippable', 8 + fa.length, skip.length],
      ['frame', 8 + fa.length + skip.length, fb.length],
    ],
  );
  const s = frames[2];
  assert.ok(s.type === 'skippable');
  assert.equal(s.magicVariant, 14);
  assert.equal(new TextDecoder().decode(all.subarray(s.dataOffset, s.dataOffset + s.dataSize)), '{"toc":true}');
  const f1 = frames[1];
  assert.ok(f1.type === 'frame');
  assert.deepEqual([f1.hasChecksum, f1.contentSize, f1.blocks >= 2], [true, undefined, true]);
  assert.throws(() => scanZstdFrames(all.subarray(0, all.length - 1)), isOcifsErrorLike('zstd'));

  // The same stream through the streaming decoder, in awkward chunk sizes.
  for (const chunk of [1, 5, 4096, 1 << 20]) {
    const seen: ZstdStreamFrame[] = [];
    const d = createZstdDecoder({ onFrame: (f) => seen.push(f) });
    const out: Uint8Array[] = [];
    const limit = chunk === 1 ? 50_000 : all.length; // byte-by-byte over a prefix only (speed)
    for (let i = 0; i < limit; i += chunk) out.push(...d.push(all.subarray(i, Math.min(i + chunk, limit))));
    const got = concat(out);
    if (limit < all.length) {
      assert.deepEqual(got, a.subarray(0, got.length));
      assert.ok(got.length > 0);
      continue;
    }
    d.end();
    assert.deepEqual(got, concat([a, b]), `chunk ${chunk}`);
    assert.deepEqual(
      seen.map((f) => [f.type, f.compressedOffset, f.compressedSize, f.decompressedOffset, f.decompressedSize]),
      [
        ['skippable', 0, 8, 0, 0],
        ['frame', 8, fa.length, 0, a.length],
        ['skippable', 8 + fa.length, skip.length, a.length, 0],
        ['frame', 8 + fa.length + skip.length, fb.length, a.length, b.length],
      ],
    );
  }
});

test('streaming a large multi-block frame with a big window matches zstd -d', async () => {
  const big = concat([binary, mixed, binary]);
  const c = zstd(big, '-3', '--long=21');
  const want = cli('zstd', ['-d', '-q', '-c'], c);
  async function* chunks() {
    for (let i = 0; i < c.length; i += 70_001) yield c.subarray(i, i + 70_001);
  }
  const parts: Uint8Array[] = [];
  for await (const piece of zstdDecompressStream(chunks())) {
    assert.ok(piece.length <= 128 * 1024);
    parts.push(piece);
  }
  assert.deepEqual(concat(parts), want);
});

test('partial decoding returns the first outputSize bytes', () => {
  const c = zstd(mixed, '-3');
  for (const n of [0, 1, 1000, 131072, 131073, 250_001, mixed.length]) {
    assert.deepEqual(zstdDecompress(c, n, { partial: true }), mixed.subarray(0, n), `n=${n}`);
  }
  assert.throws(() => zstdDecompress(c, mixed.length + 1, { partial: true }), isOcifsErrorLike('zstd'));
  assert.throws(() => zstdDecompress(c, mixed.length - 1), isOcifsErrorLike('zstd'));
  assert.throws(() => zstdDecompress(c, mixed.length + 1), isOcifsErrorLike('zstd'));
});

test('checksum mismatch, window limit, dictionaries and trailing garbage are refused', () => {
  const plain = textLike(50_000, 5);
  const c = zstd(plain, '-3');
  const bad = c.slice();
  bad[bad.length - 1] ^= 1; // last byte of the checksum
  assert.throws(
    () => zstdDecompress(bad, plain.length),
    (e: unknown) => e instanceof CorruptCompressedDataError && /checksum/.test(e.message),
  );
  assert.deepEqual(zstdDecompress(bad, plain.length, { verifyChecksum: false }), plain);
  assert.throws(() => createZstdDecoder().push(bad), /checksum/);
  const long = zstd(plain, '-3', '--long=27');
  assert.throws(() => createZstdDecoder({ maxWindowSize: 1 << 20 }).push(long), /window/);
  assert.throws(
    () => zstdDecompress(concat([c, Uint8Array.of(1, 2, 3, 4, 5)]), plain.length),
    isOcifsErrorLike('zstd'),
  );
  // Dictionary ID flag 1 with ID 7.
  const dict = Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x01, 0x58, 0x07, 0x01, 0x00, 0x00);
  assert.throws(() => zstdDecompress(dict, 0), { code: 'ERR_OCIFS_UNSUPPORTED_CODEC' });
  const d = createZstdDecoder();
  d.push(c.subarray(0, 100));
  assert.throws(() => d.end(), isOcifsErrorLike('zstd'));
});

test('every truncation of a frame gives a typed error', () => {
  const plain = textLike(6000, 8);
  const c = zstd(plain, '-19');
  for (let len = 0; len < c.length; len++) {
    const cut = c.subarray(0, len);
    assert.throws(() => zstdDecompress(cut, plain.length), isOcifsErrorLike('zstd'), `len ${len}`);
    if (len === 0) continue; // no frames at all is an empty stream, not a truncated one
    const d = createZstdDecoder();
    assert.throws(() => {
      d.push(cut);
      d.end();
    }, isOcifsErrorLike('zstd'));
  }
});

test('short fuzz: random byte flips never crash, hang or overrun the output size', () => {
  const plains = [textLike(20_000, 1), binary.subarray(0, 30_000), mixed.subarray(240_000, 270_000)];
  const streams = plains.map((p, i) => ({ plain: p, c: zstd(p, ['-1', '-9', '-19'][i], '--no-check') }));
  const r = pseudoRandom(40000, 4242);
  let k = 0;
  const next = () => r[k++ % r.length];
  for (let round = 0; round < 1500; round++) {
    const s = streams[round % streams.length];
    const bad = s.c.slice();
    for (let f = 0; f < 1 + (next() & 3); f++) bad[((next() << 8) | next()) % bad.length] ^= 1 << (next() & 7);
    try {
      assert.equal(zstdDecompress(bad, s.plain.length, { partial: (round & 1) === 1 }).length, s.plain.length);
    } catch (err) {
      assert.ok(err instanceof CorruptCompressedDataError, String(err));
    }
    try {
      const d = createZstdDecoder({ maxWindowSize: 1 << 22 });
      let n = 0;
      for (const piece of d.push(bad)) n += piece.length;
      d.end();
      assert.ok(n <= 1 << 22);
    } catch (err) {
      assert.ok(err instanceof CorruptCompressedDataError, String(err));
    }
  }
});

test('every zstd cluster of the zstd.erofs fixture decodes (located by 0-padding and magic)', () => {
  // mkfs.erofs 1.9.3 -zzstd: each compressed physical cluster is zero padding then one frame.
  // Debian's dump.erofs cannot list zstd extents, so clusters are found by their magic at the
  // first non-zero byte of a block; each must be exactly one frame that decodes to its stated size.
  const img = new Uint8Array(readFileSync(fixturePath('zstd')));
  let found = 0;
  for (let off = 4096; off < img.length; off += 4096) {
    let i = off;
    while (i < off + 4096 && img[i] === 0) i++;
    if (i === off + 4096 || img[i] !== 0x28 || img[i + 1] !== 0xb5 || img[i + 2] !== 0x2f || img[i + 3] !== 0xfd)
      continue;
    let frames;
    try {
      frames = scanZstdFrames(stripZeroPadding(img.subarray(off, off + 4096), 'zstd'));
    } catch {
      continue; // a big cluster spanning several blocks, or file data that happens to match
    }
    const f = frames[0];
    assert.ok(frames.length === 1 && f.type === 'frame' && f.contentSize !== undefined);
    const data = img.subarray(i, off + 4096);
    assert.equal(zstdDecompress(data, f.contentSize).length, f.contentSize);
    found++;
  }
  assert.ok(found > 50, `${found} clusters`);
});
