// eStargz layers built by the spec from GNU tar archives: valid gzip tars (`tar tzf` lists
// them), opened from footer + TOC only, files read chunk by chunk with chunkDigest checks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemorySource } from '../../src/io/memory-source.js';
import { detectEstargz, openEstargzLayer, TOC_DIGEST_ANNOTATION } from '../../src/tar/estargz.js';
import { openGzipLayer } from '../../src/tar/gzip-layer.js';
import { resolvePath } from '../../src/vfs/path.js';
import { assertSameManifest, makeTree, manifestOf, treeManifest } from '../helpers/fs-manifest.js';
import { runOk } from '../helpers/run.js';
import { CountingSource, buildEstargz } from './tar-test-helpers.js';

let dir: string;
let tar: Buffer;
let expected: string[];
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocifs-estargz-'));
  await makeTree(join(dir, 'tree'), 3);
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

test('an eStargz blob built by the spec is a valid tar.gz and opens from footer + TOC only', async () => {
  const { blob, tocDigest } = await buildEstargz(tar, { chunkSize: 64 * 1024 });
  await writeFile(join(dir, 'layer.estargz'), blob);
  const listed = (await runOk('tar', ['-tzf', join(dir, 'layer.estargz')])).stdout.toString();
  assert.match(listed, /stargz\.index\.json/);
  assert.match(listed, /big\/random-1M\.bin/);

  const counting = new CountingSource(new MemorySource(blob));
  const footer = await detectEstargz(counting);
  assert.ok(footer);
  const layer = await openEstargzLayer(counting, { annotations: { [TOC_DIGEST_ANNOTATION]: tocDigest }, footer });
  assert.equal(layer.tocDigest, tocDigest);
  const opened = counting.bytes;
  assert.ok(opened < 51 + (blob.length - footer.tocOffset) + 100, `opening read ${opened} bytes`);
  // Listing needs nothing more.
  for await (const _ of layer.fs.readdir(layer.fs.rootIno));
  assert.equal(counting.bytes, opened);
  // One file: only its chunks.
  const st = await resolvePath(layer.fs, '/big/text-2M.txt');
  const bytes = await (await layer.fs.openFile(st.ino)).read(100000, 50000);
  assert.ok(
    Buffer.from(bytes).equals(
      await readFile(join(dir, 'tree/big/text-2M.txt')).then((b) => b.subarray(100000, 150000)),
    ),
  );
  assert.equal(layer.source.chunksDecoded, 2, 'the two 64 KiB chunks around the range');
  assert.ok(counting.bytes - opened < 200 * 1024, `read ${counting.bytes - opened} bytes for 50 KB`);
  // The whole tree equals tar x (landmark and TOC hidden).
  assertSameManifest(await manifestOf(layer.fs), expected, 'estargz');
});

test('the same blob through the plain gzip path gives the same tree plus the landmark file', async () => {
  const { blob } = await buildEstargz(tar, { chunkSize: 1 << 20 });
  const layer = await openGzipLayer(new MemorySource(blob), { span: 256 * 1024 });
  const lines = (await manifestOf(layer.fs)).filter(
    (l) => !l.includes('"path": ".no.prefetch.landmark"') && !l.includes('"path": "stargz.index.json"'),
  );
  assertSameManifest(lines, expected, 'estargz as gzip');
});

test('a TOC that does not match its annotation, or a chunk that does not match its digest, is refused', async () => {
  const { blob } = await buildEstargz(tar, { corruptDigestOfChunk: 5 });
  await assert.rejects(
    openEstargzLayer(new MemorySource(blob), { annotations: { [TOC_DIGEST_ANNOTATION]: 'sha256:' + '0'.repeat(64) } }),
    {
      code: 'ERR_OCIFS_DIGEST_MISMATCH',
    },
  );
  const layer = await openEstargzLayer(new MemorySource(blob));
  const fileChunks = layer.toc.chunks;
  const bad = fileChunks[5];
  const e = layer.toc.index.entries.find(
    (x) => x.type === 'file' && x.dataOffset <= bad.virtualOffset && bad.virtualOffset < x.dataOffset + x.size,
  )!;
  const st = await resolvePath(layer.fs, '/' + e.path);
  await assert.rejects((await layer.fs.openFile(st.ino)).read(bad.virtualOffset - e.dataOffset, 1), {
    code: 'ERR_OCIFS_DIGEST_MISMATCH',
  });
  // Not an eStargz blob: no footer.
  assert.equal(await detectEstargz(new MemorySource(blob.subarray(0, blob.length - 51))), undefined);
});

test('small files sharing a gzip member (innerOffset, stargz --estargz-min-chunk-size) read right', async () => {
  const { blob, toc } = await buildEstargz(tar, { chunkSize: 64 * 1024, minChunkSize: 16 * 1024 });
  assert.ok(
    toc.entries.some((e: { innerOffset?: number }) => (e.innerOffset ?? 0) > 0),
    'the builder shared members',
  );
  const layer = await openEstargzLayer(new MemorySource(blob));
  assertSameManifest(await manifestOf(layer.fs), expected, 'estargz with innerOffset');
});

test('a chunk larger than maxMemoryChunk is streamed to a file, checked before any byte is served', async () => {
  const { blob } = await buildEstargz(tar, { chunkSize: 1 << 20 });
  const layer = await openEstargzLayer(new MemorySource(blob), { maxMemoryChunk: 64 * 1024 });
  assertSameManifest(await manifestOf(layer.fs), expected, 'estargz, large chunks streamed');
  await layer.source.close();
  const large = layer.toc.chunks.findIndex((c) => c.length > 64 * 1024);
  const bad = await buildEstargz(tar, { chunkSize: 1 << 20, corruptDigestOfChunk: large });
  const l2 = await openEstargzLayer(new MemorySource(bad.blob), { maxMemoryChunk: 1024 });
  const c = l2.toc.chunks[large];
  const e = l2.toc.index.entries.find((x) => x.type === 'file' && x.dataOffset === c.virtualOffset)!;
  const st = await resolvePath(l2.fs, '/' + e.path);
  await assert.rejects((await l2.fs.openFile(st.ino)).read(c.length - 1, 1), { code: 'ERR_OCIFS_DIGEST_MISMATCH' });
});
