// The writers against ocifs's own readers: trees (every file type, hardlinks, sockets, long and
// unicode names, xattrs, a directory of thousands of entries, files around block and cluster
// boundaries) written as EROFS with each compression, as eStargz and as zstd:chunked, read back
// to the same manifest; sparse files, flattening with both whiteout conventions, and the helpers
// (tar headers, footers, CRC-64, the LZ4HC encoder) on their own.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ErofsWriter } from '../../src/build/erofs/writer.js';
import type { ErofsCompression } from '../../src/build/erofs/compress.js';
import { fsEntries } from '../../src/build/fs-entries.js';
import type { BuildEntry, ContentPiece } from '../../src/build/entry.js';
import { EstargzWriter, estargzFooter } from '../../src/build/estargz-writer.js';
import { ZstdChunkedWriter } from '../../src/build/zstd-chunked-writer.js';
import { DigestingSink } from '../../src/build/sink.js';
import { tarHeader, tarPadding, END_OF_ARCHIVE } from '../../src/build/tar-write.js';
import { tarStreamEntries } from '../../src/build/tar-entries.js';
import { Crc64 } from '../../src/build/chunking.js';
import { lz4hcCompressBlock } from '../../src/codec/lz4-encode.js';
import { lz4DecompressBlock } from '../../src/codec/lz4.js';
import { openErofs } from '../../src/erofs/index.js';
import { FileSource } from '../../src/io/file-source.js';
import { MemorySource } from '../../src/io/memory-source.js';
import { openTarLayer } from '../../src/tar/open-layer.js';
import { parseEstargzFooter } from '../../src/tar/estargz.js';
import { MemoryFs, type MemoryEntry } from '../../src/vfs/memory-fs.js';
import { MergedFileSystem } from '../../src/vfs/merge.js';
import { resolvePath } from '../../src/vfs/path.js';
import type { FileSystem } from '../../src/vfs/types.js';
import { manifestOf } from '../helpers/fs-manifest.js';

const T = 1700000000;
const long = 'n'.repeat(255);

function tree(): MemoryFs {
  const entries: MemoryEntry[] = [
    { path: '/', type: 'dir', mode: 0o755, mtimeSec: T },
    { path: 'etc', type: 'dir', mtimeSec: T, xattrs: { 'user.note': 'dir xattr' } },
    {
      path: 'etc/os-release',
      type: 'file',
      content: 'NAME=test\n',
      mtimeSec: T,
      xattrs: {
        'user.a': 'x',
        'trusted.b': new Uint8Array([0, 1, 2]),
        'security.capability': new Uint8Array(20).fill(7),
      },
    },
    {
      path: 'bin/tool',
      type: 'file',
      mode: 0o4755,
      uid: 1000,
      gid: 100000,
      content: randomBytes(70000),
      mtimeSec: T + 1,
      mtimeNsec: 123456789,
    },
    { path: 'bin/tool2', link: 'bin/tool' },
    { path: 'bin/tool3', link: 'bin/tool' },
    { path: 'bin/link', type: 'symlink', target: '../etc/os-release' },
    { path: 'bin/longlink', type: 'symlink', target: 'x'.repeat(3000) },
    { path: 'dev/null', type: 'chardev', rdev: 0x103, mode: 0o666 },
    { path: 'dev/big', type: 'blockdev', rdev: 0x12345678 },
    { path: 'run/fifo', type: 'fifo' },
    { path: 'run/sock', type: 'socket' },
    { path: 'empty', type: 'file', content: '' },
    { path: 'emptydir', type: 'dir', mtimeSec: 0 },
    { path: `deep/${long}/${long}/ünïcødé ✓`, type: 'file', content: 'deep\n' },
    { path: 'old', type: 'file', content: 'before 1970\n', mtimeSec: -86400 },
  ];
  for (const size of [1, 4095, 4096, 4097, 65535, 65536, 65537, 200000]) {
    entries.push({ path: `sizes/text-${size}`, type: 'file', content: Buffer.alloc(size, `line ${size} of text\n`) });
    entries.push({ path: `sizes/rand-${size}`, type: 'file', content: randomBytes(size) });
  }
  for (let i = 0; i < 3000; i++)
    entries.push({
      path: `wide/entry-${String(i).padStart(5, '0')}-${'w'.repeat(i % 40)}`,
      type: 'file',
      content: `${i}\n`,
      mtimeSec: T,
    });
  return MemoryFs.fromEntries(entries);
}

async function withTmp<R>(fn: (dir: string) => Promise<R>): Promise<R> {
  const dir = await mkdtemp(join(tmpdir(), 'ocifs-build-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const opened: FileSource[] = [];
after(async () => {
  for (const s of opened) await s.close();
});

async function openImageFile(path: string): Promise<FileSystem> {
  const s = await FileSource.open(path);
  opened.push(s);
  return openErofs(s);
}

async function erofsOf(
  path: string,
  entries: AsyncIterable<BuildEntry>,
  compression: ErofsCompression = 'none',
): Promise<FileSystem> {
  const w = await ErofsWriter.create(path, { compression });
  try {
    await w.addEntries(entries);
  } catch (err) {
    await w.abort();
    throw err;
  }
  await w.finish();
  return openImageFile(path);
}

async function inoOf(fs: FileSystem, path: string): Promise<{ ino: number; nlink: number }> {
  const i = await resolvePath(fs, path, { followFinal: false });
  return { ino: i.ino, nlink: i.nlink };
}

for (const compression of ['none', 'lz4', 'lz4hc', 'deflate'] as const) {
  test(`EROFS (${compression}) of a tree reads back the same, hardlinks shared`, async () => {
    const src = tree();
    await withTmp(async (dir) => {
      const fs = await erofsOf(join(dir, 'img'), fsEntries(src), compression);
      assert.deepEqual(await manifestOf(fs), await manifestOf(src));
      const a = await inoOf(fs, '/bin/tool');
      assert.deepEqual(await inoOf(fs, '/bin/tool3'), a);
      assert.equal(a.nlink, 3);
      assert.equal((await inoOf(fs, '/etc')).nlink, 2);
      assert.equal((await resolvePath(fs, '/run/sock', { followFinal: false })).type, 'socket');
      const tool = await resolvePath(fs, '/bin/tool');
      assert.deepEqual(
        [tool.mtimeSec, tool.mtimeNsec, tool.gid, tool.mode & 0o7777],
        [T + 1, 123456789, 100000, 0o4755],
      );
      const details = await fs.inodeDetails!((await resolvePath(fs, '/sizes/text-200000')).ino);
      assert.equal(details.layout, compression === 'none' ? 'flat-inline' : 'compressed-full');
      const small = await fs.inodeDetails!((await resolvePath(fs, '/sizes/text-4097')).ino);
      assert.equal(
        small.layout,
        'flat-inline',
        'a one-cluster file compression does not beat stays flat, its tail inline',
      );
    });
  });
}

test('a sparse file becomes a chunk-based inode with holes', async () => {
  await withTmp(async (dir) => {
    const size = 10 * 1024 * 1024 + 5;
    async function* content(): AsyncGenerator<ContentPiece> {
      yield { offset: 4096 * 3, data: new Uint8Array(100).fill(1) };
      yield { offset: 6 * 1024 * 1024, data: new Uint8Array(5000).fill(2) };
      yield { offset: size - 3, data: new Uint8Array([3, 3, 3]) };
    }
    async function* entries(): AsyncGenerator<BuildEntry> {
      yield {
        path: 'sparse',
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtimeSec: T,
        mtimeNsec: 0,
        size,
        rdev: 0,
        sparse: true,
        content: content(),
      };
    }
    const fs = await erofsOf(join(dir, 'img'), entries());
    const ino = (await resolvePath(fs, '/sparse')).ino;
    assert.equal((await fs.inodeDetails!(ino)).layout, 'chunk-based');
    const data = await (await fs.openFile(ino)).read(0, size);
    const want = new Uint8Array(size);
    want.fill(1, 12288, 12388);
    want.fill(2, 6 * 1024 * 1024, 6 * 1024 * 1024 + 5000);
    want.fill(3, size - 3);
    assert.ok(Buffer.from(data).equals(Buffer.from(want)));
    const { size: bytes } = await import('node:fs/promises').then((m) => m.stat(join(dir, 'img')));
    assert.ok(bytes < 64 * 1024, 'holes take no blocks');
  });
});

test('flattening top-down equals the merged view, OCI and overlayfs whiteouts alike', async () => {
  const l0 = MemoryFs.fromEntries([
    { path: 'a/keep', type: 'file', content: 'keep' },
    { path: 'a/gone', type: 'file', content: 'gone' },
    { path: 'b/x', type: 'file', content: 'x' },
    { path: 'c/y', type: 'file', content: 'y' },
    { path: 'd', type: 'file', content: 'file d' },
    { path: 'e/old', type: 'file', content: 'old' },
    { path: 'h1', type: 'file', content: 'shared' },
    { path: 'h2', link: 'h1' },
  ]);
  const l1 = MemoryFs.fromEntries([
    { path: 'a/.wh.gone', type: 'file', content: '' },
    { path: 'b/.wh..wh..opq', type: 'file', content: '' },
    { path: 'b/z', type: 'file', content: 'z' },
    { path: 'c', type: 'chardev', rdev: 0 },
    { path: 'd/now-dir', type: 'file', content: 'dir' },
    { path: 'e', type: 'dir', mode: 0o700, xattrs: { 'trusted.overlay.opaque': 'y' } },
    { path: 'e/new', type: 'file', content: 'new' },
    { path: 'h1', type: 'file', content: 'replaced' },
  ]);
  const l2 = MemoryFs.fromEntries([{ path: 'a/top', type: 'file', content: 'top' }]);
  const layers = [l0, l1, l2];
  await withTmp(async (dir) => {
    const w = await ErofsWriter.create(join(dir, 'img'), { mode: 'flatten' });
    for (let i = layers.length - 1; i >= 0; i--) await w.addEntries(fsEntries(layers[i]), i);
    await w.finish();
    const fs = await openImageFile(join(dir, 'img'));
    const merged = new MergedFileSystem(layers.map((fs) => ({ fs })));
    assert.deepEqual(await manifestOf(fs), await manifestOf(merged));
    assert.equal((await inoOf(fs, '/h2')).nlink, 1, 'h2 keeps the old h1 content, h1 is a new file');
  });
});

test('an xattr EROFS has no prefix for names the entry', async () => {
  const src = MemoryFs.fromEntries([{ path: 'f', type: 'file', content: 'x', xattrs: { 'system.foo': 'bar' } }]);
  await withTmp(async (dir) => {
    await assert.rejects(erofsOf(join(dir, 'img'), fsEntries(src)), {
      code: 'ERR_OCIFS_UNCONVERTIBLE_ENTRY',
      message: /^\/f: xattr "system.foo"/,
    });
  });
});

async function lazyLayer(kind: 'estargz' | 'zstd', src: FileSystem): Promise<FileSystem> {
  const chunks: Uint8Array[] = [];
  const sink = new DigestingSink({ write: async (b) => void chunks.push(b.slice()) });
  const w =
    kind === 'estargz' ? new EstargzWriter(sink, { chunkSize: 64 * 1024 }) : await ZstdChunkedWriter.create(sink);
  for await (const e of fsEntries(src, { ociWhiteouts: true })) await w.add(e);
  const res = await w.finish();
  const blob = new MemorySource(Buffer.concat(chunks));
  const annotations = 'annotations' in res ? res.annotations : undefined;
  const layer = await openTarLayer(blob, {
    mediaType: `application/vnd.oci.image.layer.v1.tar+${kind === 'estargz' ? 'gzip' : 'zstd'}`,
    ...(annotations ? { annotations } : {}),
  });
  assert.equal(layer.format, kind === 'estargz' ? 'estargz' : 'zstd:chunked');
  return layer.fs;
}

for (const kind of ['estargz', 'zstd'] as const) {
  test(`${kind} of a tree reads back the same through its TOC`, async () => {
    const src = tree();
    const fs = await lazyLayer(kind, src);
    // Sockets cannot be in a tar; everything else can.
    const want = (await manifestOf(src)).filter((l) => !l.includes('"path": "run/sock"'));
    assert.deepEqual(await manifestOf(fs), want);
    assert.deepEqual(await inoOf(fs, '/bin/tool2'), await inoOf(fs, '/bin/tool'));
  });
}

test('tar headers round-trip through the tar parser (pax for long names, big ids, nanoseconds, xattrs)', async () => {
  const entries: BuildEntry[] = [
    { path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtimeSec: T, mtimeNsec: 0, size: 0, rdev: 0 },
    {
      path: `${long}/${'z'.repeat(200)}`,
      type: 'file',
      mode: 0o640,
      uid: 3_000_000,
      gid: 7,
      mtimeSec: T,
      mtimeNsec: 5,
      size: 3,
      rdev: 0,
      xattrs: new Map([['user.k', new Uint8Array([0, 255])]]),
    },
    {
      path: 'l',
      type: 'symlink',
      mode: 0o777,
      uid: 0,
      gid: 0,
      mtimeSec: -5,
      mtimeNsec: 0,
      size: 0,
      rdev: 0,
      linkName: 'ü'.repeat(80),
    },
    {
      path: 'dev',
      type: 'blockdev',
      mode: 0o600,
      uid: 0,
      gid: 0,
      mtimeSec: T,
      mtimeNsec: 0,
      size: 0,
      rdev: 0x12345678,
    },
    {
      path: 'h',
      type: 'hardlink',
      mode: 0o640,
      uid: 0,
      gid: 0,
      mtimeSec: T,
      mtimeNsec: 0,
      size: 0,
      rdev: 0,
      linkName: `${long}/${'z'.repeat(200)}`,
    },
  ];
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    parts.push(tarHeader(e)!);
    if (e.size) parts.push(new Uint8Array([1, 2, 3]), new Uint8Array(tarPadding(3)));
  }
  parts.push(END_OF_ARCHIVE);
  const plain = (e: BuildEntry) => {
    const { content: _content, xattrs, ...rest } = e;
    return { ...rest, xattrs: xattrs ? Object.fromEntries(xattrs) : {} };
  };
  const back: ReturnType<typeof plain>[] = [];
  for await (const e of tarStreamEntries(
    (async function* () {
      yield Buffer.concat(parts);
    })(),
  ))
    back.push(plain(e));
  assert.deepEqual(back, entries.map(plain));
});

test('the eStargz footer parses back; CRC-64/ISO has its check value', () => {
  assert.deepEqual(parseEstargzFooter(estargzFooter(0x1234abcd)), { tocOffset: 0x1234abcd, footerSize: 51 });
  const c = new Crc64();
  c.update(Buffer.from('123456789'));
  assert.equal(Buffer.from(c.digest()).toString('hex'), 'b90956c775a41001');
});

test('the LZ4HC encoder makes blocks the decoder reads back', () => {
  const inputs = [
    new Uint8Array(0),
    new Uint8Array(12),
    randomBytes(65536),
    Buffer.alloc(65536, 'abcabcabd'),
    Buffer.concat([randomBytes(1000), Buffer.alloc(30000), randomBytes(7)]),
  ];
  for (const input of inputs) {
    const block = lz4hcCompressBlock(input);
    assert.ok(Buffer.from(lz4DecompressBlock(block, input.length)).equals(Buffer.from(input)));
  }
  assert.ok(lz4hcCompressBlock(Buffer.alloc(65536, 'abcabcabd')).length < 1000);
});
