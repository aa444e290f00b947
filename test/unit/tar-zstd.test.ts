// tar+zstd layers written by the zstd CLI: one frame (served from the decompressed copy kept by
// the pass) and many frames (each read decodes only the frames it touches), compared with tar x.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { MemorySource } from '../../src/io/memory-source.js';
import { MemoryIndexStore } from '../../src/tar/index-store.js';
import { openZstdLayer, ZstdFramesSource } from '../../src/tar/zstd-layer.js';
import { resolvePath } from '../../src/vfs/path.js';
import { assertSameManifest, makeTree, manifestOf, treeManifest } from '../helpers/fs-manifest.js';
import { runOk } from '../helpers/run.js';
import { CountingSource } from './tar-test-helpers.js';

let dir: string;
let tar: Buffer;
let expected: string[];
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocifs-zstd-'));
  await makeTree(join(dir, 'tree'), 5);
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

const sha = (b: Uint8Array) => 'sha256:' + createHash('sha256').update(b).digest('hex');

async function zstd(input: Uint8Array, args: string[] = []): Promise<Buffer> {
  return (await runOk('zstd', ['-c', '-q', ...args], { input })).stdout;
}

test('a single-frame tar+zstd layer: one pass, then served from the decompressed copy', async () => {
  const blob = await zstd(tar, ['-3']);
  const store = new MemoryIndexStore();
  const counting = new CountingSource(new MemorySource(blob));
  const layer = await openZstdLayer(counting, { store, maxFrameSpan: 1 << 20 });
  assert.equal(layer.index.mode, 'derived');
  assert.equal(layer.index.frames.length, 1);
  assert.equal(layer.index.diffId, sha(tar), 'the pass yields the diff_id');
  assert.equal(counting.bytes, blob.length, 'one pass over the blob');
  assertSameManifest(await manifestOf(layer.fs), expected, 'zstd single frame');
  assert.equal(counting.bytes, blob.length, 'reads came from the decompressed copy');
  await layer.source.close?.();
  // The index is stored; the temporary copy is not, so a new process passes again.
  const again = await openZstdLayer(new MemorySource(blob), { store, maxFrameSpan: 1 << 20 });
  assert.equal(again.fromStore, false);
  await again.source.close?.();
});

test('a multi-frame tar+zstd layer: frames are checkpoints, a read decodes only its frames', async () => {
  const parts: Buffer[] = [];
  for (let at = 0; at < tar.length; at += 256 * 1024)
    parts.push(await zstd(tar.subarray(at, at + 256 * 1024), ['-5', '--no-check']));
  // A skippable frame between data frames (zstd:chunked puts its metadata in such frames).
  const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 5, 0, 0, 0]), Buffer.from('hello')]);
  const blob = Buffer.concat([parts[0], skippable, ...parts.slice(1)]);
  const store = new MemoryIndexStore();
  const first = await openZstdLayer(new MemorySource(blob), { store });
  assert.equal(first.index.mode, 'frames');
  assert.equal(first.index.frames.length, parts.length);
  assertSameManifest(await manifestOf(first.fs), expected, 'zstd multi frame');
  // A new process: no pass, and one file costs only its frames.
  const counting = new CountingSource(new MemorySource(blob));
  const layer = await openZstdLayer(counting, { store });
  assert.equal(layer.fromStore, true);
  assert.equal(counting.bytes, 0);
  const st = await resolvePath(layer.fs, '/sizes/f65537');
  const got = await (await layer.fs.openFile(st.ino)).read(0, st.size);
  assert.ok(Buffer.from(got).equals(await readFile(join(dir, 'tree/sizes/f65537'))));
  const src = layer.source;
  assert.ok(src instanceof ZstdFramesSource);
  assert.ok(src.framesDecoded <= 2, `${src.framesDecoded} frames decoded`);
  assert.ok(counting.bytes <= 2 * Math.max(...parts.map((p) => p.length)), `read ${counting.bytes} bytes`);
});

test('corrupt and truncated zstd layers are refused', async () => {
  const blob = await zstd(tar, ['-3']);
  const flipped = Buffer.from(blob);
  flipped[Math.floor(blob.length / 2)] ^= 0x40;
  await assert.rejects(openZstdLayer(new MemorySource(flipped)), (e: any) => /^ERR_OCIFS_CORRUPT_/.test(e.code));
  await assert.rejects(openZstdLayer(new MemorySource(blob.subarray(0, blob.length - 100))), (e: any) =>
    /^ERR_OCIFS_CORRUPT_/.test(e.code),
  );
  await assert.rejects(openZstdLayer(new MemorySource(tar)), (e: any) => /^ERR_OCIFS_CORRUPT_/.test(e.code));
});
