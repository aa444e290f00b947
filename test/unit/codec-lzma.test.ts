// MicroLZMA / raw LZMA1: streams from python3's lzma (liblzma) and the real MicroLZMA clusters of
// the lzma.erofs fixture (mkfs.erofs 1.9.3 -zlzma), located with Debian's dump.erofs and compared
// with the same files of the uncompressed plain-512b.erofs fixture (checked against tree-seed1.jsonl).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  decodeLzma,
  microLzmaDecompress,
  parseLzmaProperties,
  stripZeroPadding,
  decompress,
  CorruptCompressedDataError,
  isOcifsErrorLike,
} from './codec-test-utils.js';
import { erofsExtents, pseudoRandom, python, textLike, type Sample } from './codec-helpers.js';
import { fixturePath, fixtureSource, readAll, seed1Manifest } from './erofs-helpers.js';
import { openErofs } from '../../src/erofs/index.js';
import { resolvePath } from '../../src/vfs/path.js';

/** Raw LZMA1 from liblzma (it always ends such a stream with an end marker). */
function rawLzma1(plain: Uint8Array, lc: number, lp: number, pb: number, dictSize: number, preset = 6): Uint8Array {
  return python(
    `import sys,lzma;sys.stdout.buffer.write(lzma.compress(sys.stdin.buffer.read(),format=lzma.FORMAT_RAW,filters=[{'id':lzma.FILTER_LZMA1,'preset':${preset},'dict_size':${dictSize},'lc':${lc},'lp':${lp},'pb':${pb}}]))`,
    plain,
  );
}

/** MicroLZMA framing of a raw LZMA1 stream: its first byte (always 0) becomes ~properties. */
function toMicro(raw: Uint8Array, lc: number, lp: number, pb: number): Uint8Array {
  const m = raw.slice();
  assert.equal(m[0], 0);
  m[0] = ~((pb * 5 + lp) * 9 + lc) & 0xff;
  return m;
}

const binary = new Uint8Array(readFileSync(process.execPath)).subarray(3 << 20, (3 << 20) + 100_000);
const mixed = new Uint8Array(120_000);
mixed.set(textLike(60_000, 21));
mixed.set(pseudoRandom(10_000, 22), 60_000);
mixed.set(binary.subarray(0, 50_000), 70_000);

test('decodes liblzma raw LZMA1 streams for many lc/lp/pb, dictionary sizes and presets', () => {
  for (const [lc, lp, pb, dict, preset] of [
    [3, 0, 2, 1 << 20, 6],
    [0, 0, 0, 4096, 0],
    [4, 0, 4, 1 << 16, 9],
    [1, 3, 1, 1 << 22, 6],
    [0, 4, 2, 1 << 20, 3],
    [2, 2, 0, 8192, 1],
  ]) {
    for (const plain of [mixed, binary]) {
      const raw = rawLzma1(plain, lc, lp, pb, dict, preset);
      const props = { lc, lp, pb };
      assert.deepEqual(
        decodeLzma(raw, plain.length, { props, dictSize: dict, start: 0, firstByteChecked: true, exact: false }),
        plain,
        `${lc}/${lp}/${pb}`,
      );
      // In MicroLZMA framing, decoded up to the known size (the end marker is never reached).
      const micro = toMicro(raw, lc, lp, pb);
      assert.deepEqual(microLzmaDecompress(micro, plain.length, { partial: true, dictSize: dict }), plain);
      // Heads of the output, stopping inside matches.
      for (const n of [0, 1, 5, 1000, 33333])
        assert.deepEqual(microLzmaDecompress(micro, n, { partial: true }), plain.subarray(0, n));
    }
  }
});

test('an end marker before the known size, and a too-small dictionary, are corrupt', () => {
  const plain = textLike(20_000, 4);
  const raw = rawLzma1(plain, 3, 0, 2, 1 << 20);
  const micro = toMicro(raw, 3, 0, 2);
  assert.throws(
    () => microLzmaDecompress(micro, plain.length + 1, { partial: true }),
    (e: unknown) => e instanceof CorruptCompressedDataError && /end marker/.test(e.message),
  );
  // liblzma finds matches up to its dictionary size: with a smaller limit the distances are refused.
  const far = new Uint8Array(40_000);
  far.set(pseudoRandom(10_000, 8));
  far.set(pseudoRandom(10_000, 8), 30_000);
  const farRaw = toMicro(rawLzma1(far, 3, 0, 2, 1 << 16), 3, 0, 2);
  assert.deepEqual(microLzmaDecompress(farRaw, far.length, { partial: true, dictSize: 1 << 16 }), far);
  assert.throws(() => microLzmaDecompress(farRaw, far.length, { partial: true, dictSize: 4096 }), /match distance/);
});

test('properties byte and options are checked', () => {
  assert.deepEqual(parseLzmaProperties(0x5d), { lc: 3, lp: 0, pb: 2 });
  assert.equal(parseLzmaProperties(225), undefined);
  assert.equal(parseLzmaProperties(1 * 9 + 4), undefined); // lc 4 + lp 1 > 4
  assert.throws(() => microLzmaDecompress(Uint8Array.of(~225 & 0xff, 0, 0, 0, 0, 0), 1), isOcifsErrorLike('lzma'));
  assert.throws(() => microLzmaDecompress(new Uint8Array(0), 0), isOcifsErrorLike('lzma'));
  assert.throws(() => microLzmaDecompress(Uint8Array.of(0xa2), 0), isOcifsErrorLike('lzma'));
  assert.throws(() => microLzmaDecompress(Uint8Array.of(0xa2, 0, 0, 0, 0), 1, { dictSize: 100 }), {
    code: 'ERR_OCIFS_INVALID_OPTION',
  });
});

const clusters: (Sample & { where: string })[] = [];
const image = fixturePath('lzma');

before(async () => {
  const bytes = new Uint8Array(readFileSync(image));
  const plainFs = await openErofs(fixtureSource('plain-512b'));
  const sums = new Map(
    seed1Manifest()
      .map((l) => JSON.parse(l) as { path: string; sha256?: string })
      .map((e) => [e.path, e.sha256]),
  );
  for (const f of [
    'big/mixed-512K.bin',
    'big/text-2M.txt',
    'big/zeros-1M.bin',
    'bin/tool',
    'sizes/f65537',
    'sizes/f8193',
  ]) {
    const plain = await readAll(await plainFs.openFile((await resolvePath(plainFs, '/' + f)).ino));
    assert.equal(createHash('sha256').update(plain).digest('hex'), sums.get(f), f);
    for (const e of erofsExtents(image, '/' + f) ?? []) {
      const raw = bytes.subarray(e.pa, e.pa + e.plen);
      const want = plain.subarray(e.la, e.la + e.llen);
      // A tail cluster that compression did not shrink is stored plain (SHIFTED): not ours.
      if (e.llen <= e.plen && Buffer.from(raw.subarray(0, e.llen)).equals(want)) continue;
      clusters.push({ compressed: stripZeroPadding(raw, 'lzma'), plain: want, where: `${f}@${e.la}` });
    }
  }
});

test('decodes every MicroLZMA cluster of lzma.erofs exactly (the kernel pedantic checks)', () => {
  assert.ok(clusters.length > 100, `${clusters.length} clusters`);
  for (const c of clusters) {
    assert.deepEqual(microLzmaDecompress(c.compressed, c.plain.length, { dictSize: 1 << 16 }), c.plain, c.where);
    assert.deepEqual(decompress('lzma', c.compressed, c.plain.length), c.plain, c.where);
    const head = c.plain.length >> 1;
    assert.deepEqual(microLzmaDecompress(c.compressed, head, { partial: true }), c.plain.subarray(0, head), c.where);
  }
});

test('exact decoding refuses a wrong size and trailing or missing bytes', () => {
  for (const c of clusters.slice(0, 10)) {
    const n = c.plain.length;
    assert.throws(() => microLzmaDecompress(c.compressed, n - 1), isOcifsErrorLike('lzma'), c.where);
    // (n + 1 can pass: with the range coder at code 0 a few more symbols may decode from no new
    // input, in xz-embedded too; a size far past the end needs input that is not there.)
    assert.throws(() => microLzmaDecompress(c.compressed, n + 1000), isOcifsErrorLike('lzma'), c.where);
    const longer = new Uint8Array(c.compressed.length + 1);
    longer.set(c.compressed);
    assert.throws(() => microLzmaDecompress(longer, n), isOcifsErrorLike('lzma'), c.where);
    assert.throws(
      () => microLzmaDecompress(c.compressed.subarray(0, c.compressed.length - 1), n),
      isOcifsErrorLike('lzma'),
      c.where,
    );
  }
});

test('every truncation of a cluster gives a typed error, exact or partial', () => {
  const c = clusters.find((x) => x.compressed.length < 1500) ?? clusters[0];
  for (let len = 0; len < c.compressed.length; len++) {
    const cut = c.compressed.subarray(0, len);
    assert.throws(() => microLzmaDecompress(cut, c.plain.length), isOcifsErrorLike('lzma'), `len ${len}`);
    try {
      // Partial decoding may finish early when only the range coder's last flush bytes are missing.
      assert.deepEqual(microLzmaDecompress(cut, c.plain.length, { partial: true }), c.plain, `len ${len}`);
      assert.ok(len >= c.compressed.length - 5, `len ${len} decoded`);
    } catch (err) {
      assert.ok(isOcifsErrorLike('lzma')(err));
    }
  }
});

test('short fuzz: random byte flips never crash, hang or overrun the output size', () => {
  const set = clusters.slice(0, 12);
  const r = pseudoRandom(30000, 1234);
  let k = 0;
  const next = () => r[k++ % r.length];
  for (let round = 0; round < 600; round++) {
    const c = set[round % set.length];
    const bad = c.compressed.slice();
    for (let f = 0; f < 1 + (next() & 3); f++) bad[((next() << 8) | next()) % bad.length] ^= 1 << (next() & 7);
    try {
      assert.equal(microLzmaDecompress(bad, c.plain.length, { partial: (round & 1) === 1 }).length, c.plain.length);
    } catch (err) {
      assert.ok(err instanceof CorruptCompressedDataError, String(err));
    }
  }
});
