// zstd:chunked layers laid out as containers/storage writes them (frames by the zstd CLI):
// valid tar+zstd, opened from the manifest only, chunks checked against their digests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, mkdir, readFile, writeFile, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemorySource } from '../../src/io/memory-source.js';
import {
  detectZstdChunked,
  openZstdChunkedLayer,
  LEGACY_ZSTD_CHUNKED_MANIFEST_CHECKSUM,
  LEGACY_ZSTD_CHUNKED_MANIFEST_POSITION,
  ZSTD_CHUNKED_MANIFEST_CHECKSUM,
  ZSTD_CHUNKED_MANIFEST_POSITION,
} from '../../src/tar/zstd-chunked.js';
import { openZstdLayer } from '../../src/tar/zstd-layer.js';
import { resolvePath } from '../../src/vfs/path.js';
import { assertSameManifest, manifestOf, treeManifest } from '../helpers/fs-manifest.js';
import { runOk } from '../helpers/run.js';
import { CountingSource, buildZstdChunked } from './tar-test-helpers.js';

let dir: string;
let tar: Buffer;
let expected: string[];
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocifs-zchunked-'));
  const t = join(dir, 'tree');
  await mkdir(join(t, 'd'), { recursive: true });
  for (let i = 0; i < 40; i++) await writeFile(join(t, 'd', `f${i}`), Buffer.alloc(i * 997, i));
  await writeFile(join(t, 'big.bin'), Buffer.from(Array.from({ length: 300000 }, (_, i) => (i * 7919) % 251)));
  await writeFile(join(t, 'sparse.bin'), '');
  await truncate(join(t, 'sparse.bin'), 200000);
  await runOk('ln', ['-s', 'big.bin', join(t, 'link')]);
  await runOk('ln', [join(t, 'big.bin'), join(t, 'hard')]);
  await runOk('python3', ['-c', 'import os, sys; os.setxattr(sys.argv[1], "user.k", b"value")', join(t, 'big.bin')]);
  await runOk('tar', ['-cf', join(dir, 'layer.tar'), '--format=pax', '--xattrs', '--xattrs-include=*', '-C', t, '.']);
  tar = await readFile(join(dir, 'layer.tar'));
  await mkdir(join(dir, 'x'));
  await runOk('tar', [
    '-xf',
    join(dir, 'layer.tar'),
    '-C',
    join(dir, 'x'),
    '--numeric-owner',
    '-p',
    '--xattrs',
    '--xattrs-include=*',
  ]);
  expected = await treeManifest(join(dir, 'x'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a zstd:chunked layer opens from its manifest and reads only the chunks asked for', async () => {
  const { blob, manifestChecksum, position } = await buildZstdChunked(tar, dir);
  await writeFile(join(dir, 'layer.tar.zst'), blob);
  assert.match((await runOk('tar', ['--zstd', '-tf', join(dir, 'layer.tar.zst')])).stdout.toString(), /big\.bin/);
  const counting = new CountingSource(new MemorySource(blob));
  const annotations = { [ZSTD_CHUNKED_MANIFEST_CHECKSUM]: manifestChecksum };
  const layer = await openZstdChunkedLayer(counting, { annotations });
  const opened = counting.bytes;
  assert.ok(opened < 64 + Number(position.split(':')[1]) + 10, `opening read ${opened} bytes`);
  const st = await resolvePath(layer.fs, '/big.bin');
  const got = await (await layer.fs.openFile(st.ino)).read(70000, 1000);
  assert.ok(Buffer.from(got).equals((await readFile(join(dir, 'tree/big.bin'))).subarray(70000, 71000)));
  assert.equal(layer.source.chunksDecoded, 1);
  assert.ok(
    layer.toc.chunks.some((c) => c.zeros),
    'the fixture has zero chunks',
  );
  assertSameManifest(await manifestOf(layer.fs), expected, 'zstd:chunked');
  // The annotation gives the position without the footer.
  const viaAnnotation = await detectZstdChunked(new MemorySource(blob.subarray(0, blob.length - 72)), {
    [ZSTD_CHUNKED_MANIFEST_POSITION]: position,
  });
  assert.deepEqual(viaAnnotation, await detectZstdChunked(new MemorySource(blob)));
  // And the plain tar+zstd path reads the same layer (frames become checkpoints).
  const plain = await openZstdLayer(new MemorySource(blob));
  assertSameManifest(await manifestOf(plain.fs), expected, 'zstd:chunked as tar+zstd');
});

test('a manifest that does not match its checksum annotation is refused', async () => {
  const { blob } = await buildZstdChunked(tar, dir);
  await assert.rejects(
    openZstdChunkedLayer(new MemorySource(blob), {
      annotations: { [ZSTD_CHUNKED_MANIFEST_CHECKSUM]: 'sha256:' + '1'.repeat(64) },
    }),
    {
      code: 'ERR_OCIFS_DIGEST_MISMATCH',
    },
  );
  assert.equal(await detectZstdChunked(new MemorySource(tar)), undefined);
});

test('every footer form producers wrote is found: 64 bytes (GNUlInUx), 56 and 40 bytes (GnUlInUx)', async () => {
  for (const footer of [64, 56, 40] as const) {
    const { blob, position } = await buildZstdChunked(tar, dir, { footer });
    const [offset, lengthCompressed, lengthUncompressed] = position.split(':').map(Number);
    assert.deepEqual(
      await detectZstdChunked(new MemorySource(blob)),
      { offset, lengthCompressed, lengthUncompressed },
      `${footer}-byte footer`,
    );
    const layer = await openZstdChunkedLayer(new MemorySource(blob));
    assertSameManifest(await manifestOf(layer.fs), expected, `zstd:chunked, ${footer}-byte footer`);
    // The old magic in the new place, or a frame header of the wrong size, is no footer.
    const wrong = Buffer.from(blob);
    wrong.writeUInt32LE(footer + 1, wrong.length - footer - 4);
    assert.equal(await detectZstdChunked(new MemorySource(wrong)), undefined);
  }
});

test('the annotation names before the io.github.containers rename are read and checked', async () => {
  const { blob, manifestChecksum, position } = await buildZstdChunked(tar, dir, { footer: 40 });
  const legacy = {
    [LEGACY_ZSTD_CHUNKED_MANIFEST_POSITION]: position,
    [LEGACY_ZSTD_CHUNKED_MANIFEST_CHECKSUM]: manifestChecksum,
  };
  const noFooter = new MemorySource(blob.subarray(0, blob.length - 48));
  assert.ok(await detectZstdChunked(noFooter, legacy));
  const layer = await openZstdChunkedLayer(new MemorySource(blob), { annotations: legacy });
  assertSameManifest(await manifestOf(layer.fs), expected, 'zstd:chunked via legacy annotations');
  await assert.rejects(
    openZstdChunkedLayer(new MemorySource(blob), {
      annotations: { ...legacy, [LEGACY_ZSTD_CHUNKED_MANIFEST_CHECKSUM]: 'sha256:' + '2'.repeat(64) },
    }),
    {
      code: 'ERR_OCIFS_DIGEST_MISMATCH',
    },
  );
});

test('a file stored as one chunk without chunkDigest is checked against its digest', async () => {
  const good = await buildZstdChunked(tar, dir, { chunkSize: 1 << 20, fileDigestOnly: true });
  const layer = await openZstdChunkedLayer(new MemorySource(good.blob));
  assert.ok(
    layer.toc.chunks.every((c) => c.digest !== undefined || c.zeros),
    'every chunk has a digest to check',
  );
  assertSameManifest(await manifestOf(layer.fs), expected, 'zstd:chunked, file digests only');
  const bad = await buildZstdChunked(tar, dir, { chunkSize: 1 << 20, fileDigestOnly: true, wrongDigestFor: 'd/f39' });
  const l2 = await openZstdChunkedLayer(new MemorySource(bad.blob));
  const st = await resolvePath(l2.fs, '/d/f39');
  await assert.rejects((await l2.fs.openFile(st.ino)).read(0, 10), { code: 'ERR_OCIFS_DIGEST_MISMATCH' });
});
