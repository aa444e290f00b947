// SOCI zTOCs: parsed with the minimal FlatBuffers reader, verified against the layer, and
// served without a pass. The soci CLI is not packaged for Debian, so the zTOCs are built by our
// own FlatBuffers writer from ztoc.fbs (see tar-test-helpers.ts) — a test of our reading of the
// schema, not of interoperability with zTOCs written by soci itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemorySource } from '../../src/io/memory-source.js';
import {
  loadZtoc,
  openSociLayer,
  parseSociIndex,
  SociFileSystem,
  SOCI_INDEX_V1,
  SOCI_LAYER_DIGEST,
} from '../../src/tar/soci.js';
import { GzipIndexedSource } from '../../src/tar/gzip-indexed-source.js';
import { buildGzipIndex } from '../../src/tar/gzip-indexer.js';
import { resolvePath } from '../../src/vfs/path.js';
import { assertSameManifest, makeTree, manifestOf, treeManifest } from '../helpers/fs-manifest.js';
import { runOk } from '../helpers/run.js';
import { CountingSource, buildZtoc } from './tar-test-helpers.js';

let dir: string;
let blob: Buffer;
let expected: string[];
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocifs-soci-'));
  await makeTree(join(dir, 'tree'), 4);
  await runOk('tar', [
    '-cf',
    join(dir, 'layer.tar'),
    '--format=pax',
    '--xattrs',
    '--xattrs-include=*',
    '-C',
    join(dir, 'tree'),
    '.',
  ]);
  blob = (await runOk('gzip', ['-6', '-c', join(dir, 'layer.tar')])).stdout;
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

test('a zTOC opens a gzip layer without a pass and serves the same tree as tar x', async () => {
  const withName = blob;
  // Version-1 zinfo assumes checkpoint 0 right after a 10-byte gzip header: true without FNAME.
  const noName = (await runOk('gzip', ['-6', '-n', '-c', join(dir, 'layer.tar')])).stdout;
  for (const [zinfoV1, blob] of [
    [false, withName],
    [true, noName],
  ] as const) {
    const ztoc = await buildZtoc(blob, { zinfoV1 });
    const counting = new CountingSource(new MemorySource(blob));
    const layer = await openSociLayer(counting, ztoc);
    assert.ok(counting.bytes < blob.length / 2, `verification read ${counting.bytes} of ${blob.length} bytes`);
    assert.ok(layer.ztoc.index.checkpoints.length > 5);
    assertSameManifest(await manifestOf(layer.fs), expected, `soci (zinfo v${zinfoV1 ? 1 : 2})`);
    const st = await resolvePath(layer.fs, '/big/random-1M.bin');
    const want = await readFile(join(dir, 'tree/big/random-1M.bin'));
    assert.ok(Buffer.from(await (await layer.fs.openFile(st.ino)).read(0, st.size)).equals(want));
  }
  // A version-1 zinfo on a layer whose header has a name puts checkpoint 0 in the wrong place:
  // caught by the header check instead of serving garbage.
  await assert.rejects(openSociLayer(new MemorySource(withName), await buildZtoc(withName, { zinfoV1: true })), {
    code: 'ERR_OCIFS_CORRUPT_INDEX',
  });
  // The zTOC's checkpoints are the ones our own pass finds.
  const own = await buildGzipIndex(new MemorySource(blob), { span: 256 * 1024 });
  const z = loadZtoc(await buildZtoc(blob));
  assert.deepEqual(
    z.index.checkpoints.map((c) => [c.bit, c.out]),
    own.checkpoints.map((c) => [c.bit, c.out]),
  );
});

test('a zTOC that does not match the layer is refused, never used', async () => {
  await assert.rejects(
    openSociLayer(new MemorySource(blob), await buildZtoc(blob, { shiftOffsets: 512 })),
    (e: any) => e.code === 'ERR_OCIFS_CORRUPT_INDEX' && /does not match/.test(e.message),
  );
  await assert.rejects(
    openSociLayer(new MemorySource(blob), await buildZtoc(blob, { compressedSize: blob.length + 1 })),
    { code: 'ERR_OCIFS_CORRUPT_INDEX' },
  );
  // A span whose compressed bytes differ from the zTOC's digest is never decoded.
  const layer = await openSociLayer(new MemorySource(blob), await buildZtoc(blob, { badSpanDigest: 3 }), {
    samples: 1,
  });
  const cp = layer.ztoc.index.checkpoints[3];
  await assert.rejects(layer.source.read(cp.out, 10), { code: 'ERR_OCIFS_DIGEST_MISMATCH' });
  // A zTOC right about the sampled files but wrong about one other: that file is refused on open.
  {
    const z = loadZtoc(await buildZtoc(blob));
    const files = z.index.tar.entries.filter((e) => e.type === 'file' && e.size > 0);
    const victim = files[Math.floor(files.length / 3) + 1];
    const other =
      files.find((e) => e !== victim && e.size === victim.size && e.dataOffset !== victim.dataOffset) ??
      files[Math.floor(files.length / 3) + 2];
    const original = victim.dataOffset;
    victim.dataOffset = other.dataOffset;
    victim.size = victim.storedSize = other.size;
    const source = new GzipIndexedSource(new MemorySource(blob), z.index);
    const fs = new SociFileSystem(z.index.tar, source);
    const st = await resolvePath(fs, '/' + victim.path);
    await assert.rejects(
      fs.openFile(st.ino),
      (e: any) => e.code === 'ERR_OCIFS_CORRUPT_INDEX' && /does not match/.test(e.message),
    );
    assert.notEqual(original, victim.dataOffset);
  }
  // Garbage, truncation and flipped bytes: a clear error or a structurally valid zTOC, nothing else.
  const good = await buildZtoc(blob);
  assert.throws(() => loadZtoc(good.subarray(0, 100)), { code: 'ERR_OCIFS_CORRUPT_INDEX' });
  assert.throws(() => loadZtoc(new Uint8Array(64).fill(0xff)), { code: 'ERR_OCIFS_CORRUPT_INDEX' });
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const headerEnd = 4096; // flips in the tables and offsets rather than in the 32 KiB windows
  for (let k = 0; k < 300; k++) {
    const b = good.slice();
    for (let j = 0; j < 3; j++) b[Math.floor(rnd() * headerEnd)] ^= 1 << Math.floor(rnd() * 8);
    try {
      loadZtoc(b);
    } catch (err) {
      assert.equal((err as { code?: string }).code, 'ERR_OCIFS_CORRUPT_INDEX', String(err));
    }
  }
});

test('SOCI index manifests (v1 and v2) list their zTOCs by layer', () => {
  const d = (c: string) => 'sha256:' + c.repeat(64);
  const v1 = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: SOCI_INDEX_V1,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: d('4'), size: 2 },
    layers: [
      {
        mediaType: 'application/octet-stream',
        digest: d('a'),
        size: 1234,
        annotations: {
          [SOCI_LAYER_DIGEST]: d('b'),
          'com.amazon.soci.image-layer-mediaType': 'application/vnd.oci.image.layer.v1.tar+gzip',
        },
      },
    ],
    subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d('c'), size: 10 },
  };
  assert.deepEqual(parseSociIndex(Buffer.from(JSON.stringify(v1))), {
    version: 1,
    subject: d('c'),
    ztocs: [
      {
        digest: d('a'),
        size: 1234,
        layerDigest: d('b'),
        layerMediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      },
    ],
  });
  const v2 = {
    ...v1,
    artifactType: undefined,
    subject: undefined,
    config: { mediaType: 'application/vnd.amazon.soci.index.v2+json', digest: d('4'), size: 2 },
  };
  assert.equal(parseSociIndex(Buffer.from(JSON.stringify(v2))).version, 2);
  assert.throws(() => parseSociIndex(Buffer.from('{"layers": []}')), { code: 'ERR_OCIFS_CORRUPT_INDEX' });
  assert.throws(() => parseSociIndex(Buffer.from('not json')), { code: 'ERR_OCIFS_CORRUPT_INDEX' });
});

test('a file whose member name ("./" + path) is just over 100 bytes opens (GNU long names, pax)', async () => {
  // GNU tar of `-C DIR .` names members "./PATH": a path of 98 or 99 bytes makes a 100- or
  // 101-byte name, kept in a long-name record while the header's name field holds its first
  // 100 bytes — a truncated name the header check must not take for a mismatch.
  const tree = join(dir, 'long');
  const paths = [98, 99, 100, 150].map((n) => `d/${'x'.repeat(n - 'd/'.length - '.txt'.length)}.txt`);
  await mkdir(join(tree, 'd'), { recursive: true });
  for (const p of paths) await writeFile(join(tree, p), `${p.length}\n`);
  for (const format of ['gnu', 'pax']) {
    const tar = join(dir, `long-${format}.tar`);
    await runOk('tar', ['-cf', tar, `--format=${format}`, '-C', tree, '.']);
    const gz = (await runOk('gzip', ['-6', '-c', tar])).stdout;
    const layer = await openSociLayer(new MemorySource(gz), await buildZtoc(gz));
    for (const p of paths) {
      const st = await resolvePath(layer.fs, '/' + p);
      const src = await layer.fs.openFile(st.ino);
      assert.equal(Buffer.from(await src.read(0, src.size)).toString(), `${p.length}\n`, `${format} ${p.length}`);
    }
  }
});
