// `ByteSource.fileSpans`: where a source's bytes lie in local files (FileSource, SliceSource,
// the EROFS reader's uncompressed files), and extraction that copies those spans on the writer
// thread instead of reading the bytes: same trees, same bytes, and a descriptor that names
// another file by then is refused.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readSync } from 'node:fs';
import { copyFile, mkdtemp, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ByteSource, EncodedSpan, FileSpan, ReadOptions } from '../../src/io/byte-source.js';
import { lz4DecompressBlock } from '../../src/codec/index.js';
import { FileSource } from '../../src/io/file-source.js';
import { MemorySource } from '../../src/io/memory-source.js';
import { SliceSource } from '../../src/io/slice-source.js';
import { openErofs } from '../../src/erofs/index.js';
import { extractTree } from '../../src/extract/extract.js';
import { MemoryFs } from '../../src/vfs/memory-fs.js';
import type { FileSystem } from '../../src/vfs/types.js';
import { walk } from '../../src/vfs/walk.js';
import { assertSameManifest, makeTree, treeManifest } from '../helpers/fs-manifest.js';
import { runOk } from '../helpers/run.js';
import { fixturePath, seed1Manifest } from './erofs-helpers.js';

const made: string[] = [];
after(async () => {
  for (const d of made) await rm(d, { recursive: true, force: true });
});
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ocifs-spans-unit-'));
  made.push(d);
  return d;
}

/** The bytes the spans name, read with plain preads of the files behind their descriptors. */
function spanBytes(spans: FileSpan[]): Uint8Array {
  const out = new Uint8Array(spans.reduce((n, s) => n + s.length, 0));
  let at = 0;
  for (const s of spans) {
    const fd = openSync(`/proc/self/fd/${s.fd}`, 'r');
    try {
      let done = 0;
      while (done < s.length) {
        const n = readSync(fd, out, at + done, s.length - done, s.position + done);
        assert.ok(n > 0, 'span runs past the end of its file');
        done += n;
      }
    } finally {
      closeSync(fd);
    }
    at += s.length;
  }
  return out;
}

test('FileSource.fileSpans: one span of its own file, clamped like read; none after close', async () => {
  const dir = await tmp();
  const path = join(dir, 'f');
  const bytes = new Uint8Array(10000).map((_, i) => (i * 7) & 0xff);
  await writeFile(path, bytes);
  const st = await stat(path, { bigint: true });
  const src = await FileSource.open(path);
  const spans = await src.fileSpans(100, 5000);
  assert.equal(spans?.length, 1);
  assert.deepEqual({ ...spans[0], fd: 0 }, { fd: 0, fileId: `${st.dev}:${st.ino}`, position: 100, length: 5000 });
  assert.deepEqual(spanBytes(spans), bytes.subarray(100, 5100));
  assert.deepEqual(
    (await src.fileSpans(9990, 100))?.map((s) => s.length),
    [10],
  );
  assert.deepEqual(await src.fileSpans(10000, 5), []);
  await assert.rejects(src.fileSpans(10001, 1), { code: 'ERR_OCIFS_OUT_OF_RANGE' });
  const slice = new SliceSource(src, 1000, 2000);
  const s2 = await slice.fileSpans(10, 5000);
  assert.deepEqual(
    s2?.map((s) => [s.position, s.length]),
    [[1010, 1990]],
  );
  assert.equal(await new SliceSource(new MemorySource(bytes), 0, 10).fileSpans(0, 10), undefined);
  await src.close();
  assert.equal(await src.fileSpans(0, 10), undefined);
  await assert.rejects(src.read(0, 10));
});

test('FileSource.close waits for reads in flight', async () => {
  const dir = await tmp();
  const path = join(dir, 'f');
  await writeFile(path, new Uint8Array(1 << 20).fill(7));
  const src = await FileSource.open(path);
  const reads = Array.from({ length: 16 }, (_, i) => src.read(i * 65536, 65536));
  await src.close();
  for (const r of await Promise.all(reads)) assert.ok(r.every((b) => b === 7));
});

for (const name of ['plain-512b', 'chunked']) {
  test(`EROFS ${name}: every file's spans hold exactly its bytes (blocks and inline tails)`, async () => {
    const src = await FileSource.open(fixturePath(name));
    try {
      const fs = await openErofs(src);
      let withSpans = 0;
      let files = 0;
      for await (const e of walk(fs, '/')) {
        if (e.inode.type !== 'file') continue;
        files++;
        const data = await fs.openFile(e.inode.ino);
        const spans = await data.fileSpans!(0, data.size);
        const whole = await data.read(0, data.size);
        if (spans === undefined) continue; // a sparse file (null chunks) has no spans
        withSpans++;
        assert.deepEqual(spanBytes(spans), whole, e.path);
        if (data.size > 3) {
          // A range inside the file, too.
          const part = await data.fileSpans!(1, data.size - 2);
          assert.deepEqual(spanBytes(part!), whole.subarray(1, data.size - 1), `${e.path} [1, size-1)`);
        }
      }
      assert.ok(withSpans > files * 0.9, `${withSpans} of ${files} files have spans`);
    } finally {
      await src.close();
    }
  });
}

/** Content of encoded spans, decoded with the codec's own LZ4 decoder (0-padding stripped as EROFS does). */
function decodeSpans(spans: EncodedSpan[]): Uint8Array {
  const parts = spans.map((s) => {
    const raw = spanBytes([s]);
    if (s.encoding === undefined) return raw;
    assert.equal(s.encoding, 'lz4-block');
    let i = 0;
    while (i < (s.zeroPadLimit ?? 0) && raw[i] === 0) i++;
    return lz4DecompressBlock(raw.subarray(i), s.decodedLength!);
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Checks every file's encoded spans against its bytes; returns [files with spans, files]. */
async function checkEncodedSpans(image: string): Promise<[number, number]> {
  const src = await FileSource.open(image);
  try {
    const fs = await openErofs(src);
    let withSpans = 0;
    let files = 0;
    for await (const e of walk(fs, '/')) {
      if (e.inode.type !== 'file' || e.inode.size === 0) continue;
      files++;
      const data = await fs.openFile(e.inode.ino);
      const plain = await data.encodedSpans!(0, data.size, { encodings: [] });
      assert.ok(!plain?.some((x) => x.encoding !== undefined), `${e.path}: no lz4 spans unless accepted`);
      const spans = await data.encodedSpans!(0, data.size, { encodings: ['lz4-block'] });
      if (spans === undefined) continue;
      withSpans++;
      assert.deepEqual(decodeSpans(spans), await data.read(0, data.size), e.path);
    }
    return [withSpans, files];
  } finally {
    await src.close();
  }
}

/** An image of the seed-1 tree made by this machine's mkfs.erofs. */
async function mkfsImage(args: string[]): Promise<string> {
  const dir = await tmp();
  await makeTree(join(dir, 'tree'), 1);
  const image = join(dir, 'image.erofs');
  await runOk('mkfs.erofs', [...args, image, join(dir, 'tree')]);
  return image;
}

for (const [name, args] of [
  ['lz4hc', ['-zlz4hc']],
  ['lz4', ['-zlz4']],
] as const) {
  test(`EROFS ${name} (mkfs.erofs): LZ4 clusters as encoded spans decode to every file's bytes, and extract reproduces the tree`, async () => {
    const image = await mkfsImage([...args]);
    const [withSpans, files] = await checkEncodedSpans(image);
    assert.ok(withSpans > files * 0.95, `${withSpans} of ${files} files have encoded spans`);
    const dest = join(await tmp(), 'out');
    const file = await FileSource.open(image);
    const src = new Counting(file);
    try {
      await extractTree(await openErofs(src), dest);
      assert.ok(src.readBytes < (await stat(image)).size / 4, `${src.readBytes} bytes read through the reader`);
    } finally {
      await file.close();
    }
    assertSameManifest(
      await treeManifest(dest),
      await treeManifest(join(image, '../tree')),
      `extract of the ${name} image`,
    );
  });
}

for (const name of ['lz4hc-packed', 'lz4-bigpcluster']) {
  test(`EROFS ${name}: encoded spans decode to every file's bytes; extract reproduces the tree`, async () => {
    const [withSpans, files] = await checkEncodedSpans(fixturePath(name));
    // lz4hc-packed keeps every file's tail in a fragment of the packed inode: all are read.
    if (name === 'lz4-bigpcluster')
      assert.ok(withSpans > files * 0.9, `${withSpans} of ${files} files have encoded spans`);
    const dest = join(await tmp(), 'out');
    const file = await FileSource.open(fixturePath(name));
    try {
      await extractTree(await openErofs(file), dest);
    } finally {
      await file.close();
    }
    assertSameManifest(await treeManifest(dest), seed1Manifest(), `extract of ${name}`);
  });
}

test('an LZ4 cluster of zeros is refused by the writer thread as corrupt compressed data', async () => {
  const image = await mkfsImage(['-zlz4hc']);
  const src = await FileSource.open(image);
  let target: EncodedSpan | undefined;
  let victim = '';
  try {
    const fs = await openErofs(src);
    for await (const e of walk(fs, '/')) {
      if (e.inode.type !== 'file' || e.inode.size < 20000) continue;
      const spans = await (await fs.openFile(e.inode.ino)).encodedSpans!(0, e.inode.size, { encodings: ['lz4-block'] });
      target = spans?.find((s) => s.encoding === 'lz4-block');
      victim = e.relPath;
      if (target) break;
    }
  } finally {
    await src.close();
  }
  assert.ok(target, 'no file with an lz4 cluster');
  const bad = join(await tmp(), 'bad.erofs');
  await copyFile(image, bad);
  const fh = await open(bad, 'r+');
  await fh.write(new Uint8Array(target.length), 0, target.length, target.position);
  await fh.close();
  const file = await FileSource.open(bad);
  try {
    await assert.rejects(extractTree(await openErofs(file), join(await tmp(), 'out')), (e: any) => {
      assert.equal(e.code, 'ERR_OCIFS_CORRUPT_COMPRESSED_DATA', e.message);
      assert.ok(e.data.path.endsWith('/' + victim), e.data.path);
      return true;
    });
  } finally {
    await file.close();
  }
});

test('with OCIFS_LZ4_NATIVE=0 the writer takes no LZ4 spans: compressed content is read and decoded by the reader', async () => {
  const image = await mkfsImage(['-zlz4hc']);
  const file = await FileSource.open(image);
  const src = new Counting(file);
  const before = process.env.OCIFS_LZ4_NATIVE;
  process.env.OCIFS_LZ4_NATIVE = '0';
  const dest = join(await tmp(), 'out');
  try {
    await extractTree(await openErofs(src), dest);
  } finally {
    if (before === undefined) delete process.env.OCIFS_LZ4_NATIVE;
    else process.env.OCIFS_LZ4_NATIVE = before;
    await file.close();
  }
  assert.ok(src.readBytes > (await stat(image)).size / 2, `${src.readBytes} bytes read through the reader`);
  assertSameManifest(
    await treeManifest(dest),
    await treeManifest(join(image, '../tree')),
    'extract without native lz4',
  );
});

test('EROFS compressed files have no spans (their bytes are not stored as they read)', async () => {
  const src = await FileSource.open(fixturePath('lz4hc-packed'));
  try {
    const fs = await openErofs(src);
    for await (const e of walk(fs, '/')) {
      if (e.inode.type !== 'file' || e.inode.size < 8192) continue;
      const data = await fs.openFile(e.inode.ino);
      assert.equal(await data.fileSpans!(0, data.size), undefined, e.path);
    }
  } finally {
    await src.close();
  }
});

/** Passes reads and spans through, counting the bytes each way moved. */
class Counting implements ByteSource {
  readBytes = 0;
  spanBytes = 0;
  constructor(private readonly inner: FileSource) {}
  get size(): number {
    return this.inner.size;
  }
  read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    this.readBytes += length;
    return this.inner.read(offset, length, options);
  }
  async fileSpans(offset: number, length: number, options?: ReadOptions): Promise<FileSpan[] | undefined> {
    const s = await this.inner.fileSpans(offset, length, options);
    for (const x of s ?? []) this.spanBytes += x.length;
    return s;
  }
}

// chunked.erofs has sparse files (null chunks): those go through read.
for (const [name, share] of [
  ['plain-512b', 0.99],
  ['chunked', 0.75],
] as const) {
  test(`extract of EROFS ${name} from a local file copies spans on the writer thread and reproduces the tree`, async () => {
    const dest = join(await tmp(), 'out');
    const file = await FileSource.open(fixturePath(name));
    const src = new Counting(file);
    try {
      const result = await extractTree(await openErofs(src), dest);
      assert.ok(result.files > 1000);
      assert.ok(src.spanBytes > result.bytes * share, `${src.spanBytes} bytes copied as spans of ${result.bytes}`);
      // What was read is metadata (and sparse files), not the data.
      assert.ok(src.readBytes < (await stat(fixturePath(name))).size / 2, `${src.readBytes} bytes read`);
    } finally {
      await file.close();
    }
    assertSameManifest(await treeManifest(dest), seed1Manifest(), `extract of ${name}`);
  });
}

test('the writer refuses a span whose descriptor names another file than its fileId, and writes nothing from it', async () => {
  const dir = await tmp();
  const real = join(dir, 'real');
  await writeFile(real, 'the real bytes');
  const file = await FileSource.open(real);
  const fs = new MemoryFs();
  fs.addPath({ path: 'a', type: 'file', content: 'the real bytes' });
  // Same descriptor, wrong identity: what a closed and reused descriptor would look like.
  const liar: FileSystem = Object.create(fs);
  liar.openFile = async (ino, options) => {
    const s = await fs.openFile(ino, options);
    return {
      size: s.size,
      read: (o, l, opts) => s.read(o, l, opts),
      fileSpans: async (o, l) => [{ ...(await file.fileSpans(o, l))![0], fileId: '1:2' }],
    };
  };
  const dest = join(dir, 'out');
  try {
    await assert.rejects(
      extractTree(liar, dest),
      (e: any) => e.code === 'ERR_OCIFS_EXTRACT_IO' && /no longer names the source file/.test(e.cause?.message),
    );
    const left = await readdir(dest);
    if (left.includes('a')) assert.equal((await stat(join(dest, 'a'))).size, 0);
  } finally {
    await file.close();
  }
});
