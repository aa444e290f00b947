// The gzip checkpoint pass and the indexed source, on streams written by real gzip and pigz
// (levels, multi-member, header fields): the whole stream equals Node's zlib output, every
// file equals what `tar x` extracts, and a read after indexing decodes one span only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, gunzipSync, gzipSync } from 'node:zlib';
import { MemorySource } from '../../src/io/memory-source.js';
import { buildGzipIndex } from '../../src/tar/gzip-indexer.js';
import { GzipIndexedSource } from '../../src/tar/gzip-indexed-source.js';
import { GZIP_INDEX_NAME, decodeGzipIndex, encodeGzipIndex } from '../../src/tar/gzip-index.js';
import { openGzipLayer } from '../../src/tar/gzip-layer.js';
import { MemoryIndexStore } from '../../src/tar/index-store.js';
import { TarFileSystem } from '../../src/tar/tar-fs.js';
import { resolvePath } from '../../src/vfs/path.js';
import { assertSameManifest, makeTree, manifestOf, treeManifest } from '../helpers/fs-manifest.js';
import { runOk } from '../helpers/run.js';
import { CountingSource } from './tar-test-helpers.js';
import { mulberry32 } from '../helpers/prng.js';

let dir: string;
let tarBytes: Buffer;
let expected: string[];
const SPAN = 64 * 1024;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocifs-gz-'));
  await makeTree(join(dir, 'tree'), 2);
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
  tarBytes = await readFile(join(dir, 'layer.tar'));
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

async function gz(args: string[], cmd = 'gzip'): Promise<Buffer> {
  return (await runOk(cmd, [...args, '-c', join(dir, 'layer.tar')])).stdout;
}

/** A gzip member header with FEXTRA, FNAME, FCOMMENT and FHCRC around a raw deflate body. */
function fancyMember(data: Buffer): Buffer {
  const plain = gzipSync(data, { level: 6 });
  const body = plain.subarray(10); // deflate + trailer
  const extra = Buffer.from('SPxxxxxx');
  const head = Buffer.concat([
    Buffer.from([0x1f, 0x8b, 8, 2 | 4 | 8 | 16, 0, 0, 0, 0, 0, 3]),
    Buffer.from([extra.length, 0]),
    extra,
    Buffer.from('name.tar\0comment\0', 'latin1'),
  ]);
  const hcrc = crc32(head) & 0xffff;
  return Buffer.concat([head, Buffer.from([hcrc & 0xff, hcrc >> 8]), body]);
}

async function checkLayer(name: string, blob: Buffer, inflater: 'native' | 'pako' = 'native'): Promise<void> {
  assert.ok(gunzipSync(blob).equals(tarBytes), `${name}: fixture is a gzip of the tar`);
  const index = await buildGzipIndex(new MemorySource(blob), { span: SPAN, inflater });
  // Checkpoints land at many bit positions within a byte, so resuming is tested for them (pigz
  // ends its 128 KiB blocks with sync flushes, which are byte-aligned).
  if (!name.startsWith('pigz'))
    assert.ok(
      new Set(index.checkpoints.map((c) => c.bit % 8)).size >= 4,
      `${name}: bit positions ${index.checkpoints.map((c) => c.bit % 8).join(',')}`,
    );
  assert.equal(index.tarSize, tarBytes.length);
  assert.ok(index.checkpoints.length > 10, `${name}: ${index.checkpoints.length} checkpoints`);
  const source = new GzipIndexedSource(new MemorySource(blob), index);
  const all = await source.read(0, source.size);
  assert.ok(Buffer.from(all).equals(tarBytes), `${name}: whole stream equals zlib's`);
  // Each span decoded on its own, from a fresh source, equals zlib's output.
  const fresh = new GzipIndexedSource(new MemorySource(blob), index, { readAhead: false, spanCacheBytes: 0 });
  for (let i = 0; i < index.checkpoints.length; i++) {
    const cp = index.checkpoints[i];
    const b = await fresh.read(cp.out, 1000);
    assert.ok(Buffer.from(b).equals(tarBytes.subarray(cp.out, cp.out + 1000)), `${name}: span ${i} at bit ${cp.bit}`);
  }
  const fs = new TarFileSystem(index.tar, source);
  assertSameManifest(await manifestOf(fs), expected, name);
  const again = await decodeGzipIndex(await encodeGzipIndex(index));
  assert.deepEqual(again, index);
}

test('gzip levels 1 and 9, pigz: index, spans and tree match zlib and tar x', async () => {
  await checkLayer('gzip -1', await gz(['-1', '-n']));
  await checkLayer('gzip -1 (pako pass)', await gz(['-1', '-n']), 'pako');
  await checkLayer('gzip -9 (FNAME)', await gz(['-9']));
  await checkLayer('pigz', await gz(['-p', '2', '-b', '128'], 'pigz'));
});

test('multi-member gzip (split tar, members concatenated, header fields) and zero padding', async () => {
  const cut = [0, 1000001, 3000000, 5123457, tarBytes.length];
  const members: Buffer[] = [];
  for (let i = 0; i + 1 < cut.length; i++) {
    const part = tarBytes.subarray(cut[i], cut[i + 1]);
    members.push(i === 1 ? fancyMember(part) : gzipSync(part, { level: i + 1 }));
  }
  members.push(gzipSync(Buffer.alloc(0)));
  await checkLayer('multi-member', Buffer.concat(members));
  await checkLayer('multi-member (pako pass)', Buffer.concat(members), 'pako');
  await checkLayer('zero padded', Buffer.concat([...members, Buffer.alloc(4096)]));
});

test('a read after indexing fetches and decodes only the spans it touches', async () => {
  const blob = await gz(['-6', '-n']);
  const counting = new CountingSource(new MemorySource(blob));
  const store = new MemoryIndexStore();
  const first = await openGzipLayer(counting, { store, span: SPAN });
  assert.equal(first.fromStore, false);
  assert.equal(counting.bytes, blob.length, 'the pass read the blob once');
  // A fresh open (a new process) finds the index in the store and reads nothing to list.
  counting.bytes = 0;
  const layer = await openGzipLayer(counting, { store, span: SPAN, readAhead: false });
  assert.equal(layer.fromStore, true);
  assert.equal(counting.bytes, 0);
  const st = await resolvePath(layer.fs, '/big/text-2M.txt');
  const e = layer.fs.entry(st.ino)!;
  const data = await (await layer.fs.openFile(st.ino)).read(1000, 5000);
  assert.ok(Buffer.from(data).equals(tarBytes.subarray(e.dataOffset + 1000, e.dataOffset + 6000)));
  const cps = layer.index.checkpoints;
  const i = layer.source.spanOf(e.dataOffset + 1000);
  const j = layer.source.spanOf(e.dataOffset + 5999);
  const spanBytes = Math.ceil((j + 1 < cps.length ? cps[j + 1].bit : blob.length * 8) / 8) - Math.floor(cps[i].bit / 8);
  assert.equal(counting.bytes, spanBytes, 'exactly the compressed span(s) around the range');
  assert.equal(layer.source.spansDecoded, j - i + 1);
  assert.ok(spanBytes < blob.length / 4);
  const stored = store.map.get(GZIP_INDEX_NAME)!;
  // Index size: windows dominate; with 64 KiB spans it is large, with the default far smaller.
  assert.ok(stored.length > 0);
});

test('incompressible data (a run of stored blocks) still gets a checkpoint every span, and reads inside it decode one span', async () => {
  // Regression: the native pass found every boundary between stored blocks ambiguous and put
  // no checkpoint in them, so a read behind a big random file decompressed all of it.
  const r = mulberry32(7);
  const random = Buffer.alloc(4 << 20);
  for (let i = 0; i < random.length; i++) random[i] = Math.floor(r() * 256);
  await mkdir(join(dir, 'rnd'), { recursive: true });
  await writeFile(join(dir, 'rnd/random.bin'), random);
  await writeFile(join(dir, 'rnd/after.txt'), 'after\n');
  await runOk('tar', ['-cf', join(dir, 'rnd.tar'), '-C', join(dir, 'rnd'), 'random.bin', 'after.txt']);
  const blob = gzipSync(await readFile(join(dir, 'rnd.tar')), { level: 6 });
  const counting = new CountingSource(new MemorySource(blob));
  const layer = await openGzipLayer(counting, { store: new MemoryIndexStore(), span: SPAN, readAhead: false });
  assert.ok(
    layer.index.checkpoints.length >= random.length / SPAN / 2,
    `${layer.index.checkpoints.length} checkpoints`,
  );
  counting.bytes = 0;
  const after = await resolvePath(layer.fs, '/after.txt');
  assert.equal(Buffer.from(await (await layer.fs.openFile(after.ino)).read(0, 6)).toString(), 'after\n');
  assert.ok(counting.bytes < 4 * SPAN, `reading after.txt fetched ${counting.bytes} bytes`);
  const rnd = await resolvePath(layer.fs, '/random.bin');
  const f = await layer.fs.openFile(rnd.ino);
  for (const off of [1, 777_777, 2_500_000, random.length - 1000]) {
    assert.ok(Buffer.from(await f.read(off, 1000)).equals(random.subarray(off, off + 1000)), `bytes at ${off}`);
  }
});

test('corrupt gzip streams are refused with ERR_OCIFS_CORRUPT_GZIP, never served', async () => {
  const blob = await gz(['-6', '-n']);
  const flipped = Buffer.from(blob);
  flipped[Math.floor(blob.length / 2)] ^= 0x10;
  await assert.rejects(buildGzipIndex(new MemorySource(flipped)), { code: 'ERR_OCIFS_CORRUPT_GZIP' });
  await assert.rejects(buildGzipIndex(new MemorySource(blob.subarray(0, blob.length - 5))), {
    code: 'ERR_OCIFS_CORRUPT_GZIP',
  });
  await assert.rejects(buildGzipIndex(new MemorySource(blob.subarray(0, blob.length / 2))), {
    code: 'ERR_OCIFS_CORRUPT_GZIP',
  });
  await assert.rejects(buildGzipIndex(new MemorySource(Buffer.concat([blob, Buffer.from('garbage')]))), {
    code: 'ERR_OCIFS_CORRUPT_GZIP',
  });
  await assert.rejects(buildGzipIndex(new MemorySource(tarBytes)), { code: 'ERR_OCIFS_CORRUPT_GZIP' });
  const badCrc = Buffer.from(blob);
  badCrc[badCrc.length - 6] ^= 1;
  await assert.rejects(
    buildGzipIndex(new MemorySource(badCrc)),
    (e: any) => e.code === 'ERR_OCIFS_CORRUPT_GZIP' && /CRC/.test(e.message),
  );
  // An index used against different bytes: the damaged span errors instead of returning garbage.
  const index = await buildGzipIndex(new MemorySource(blob), { span: SPAN });
  const src = new GzipIndexedSource(new MemorySource(flipped), index);
  const at = index.checkpoints.findIndex((c) => c.bit / 8 > blob.length / 2) - 1;
  await assert.rejects(src.read(index.checkpoints[at].out, 10), { code: 'ERR_OCIFS_CORRUPT_GZIP' });
});

test('a damaged stored gzip index is rebuilt, never used', async () => {
  const blob = await gz(['-6', '-n']);
  const store = new MemoryIndexStore();
  await openGzipLayer(new MemorySource(blob), { store, span: SPAN });
  const good = store.map.get(GZIP_INDEX_NAME)!;
  for (const at of [3, 11, 40, good.length - 2]) {
    const bad = good.slice();
    bad[at] ^= 0x01;
    await store.put(GZIP_INDEX_NAME, bad);
    const layer = await openGzipLayer(new MemorySource(blob), { store, span: SPAN });
    assert.equal(layer.fromStore, false);
    assert.ok(Buffer.from(await layer.source.read(0, layer.source.size)).equals(tarBytes));
  }
  await writeFile(join(dir, 'unused'), '');
});
