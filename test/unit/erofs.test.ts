// The EROFS reader on the fixture images (test/fixtures/erofs): every image lists exactly tree-seed1.jsonl,
// the superblock summary, the errors of bad images, lookups, random and concurrent reads, and
// how few bytes operations read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { MemorySource } from '../../src/io/memory-source.js';
import type { ByteSource, ReadOptions } from '../../src/io/byte-source.js';
import { walk } from '../../src/vfs/walk.js';
import { FileSource } from '../../src/io/file-source.js';
import { isOcifsError } from '../../src/errors.js';
import { openErofs, isErofs, formatErofsInfo, type ErofsFileSystem } from '../../src/erofs/index.js';
import { crc32cUpdate } from '../../src/erofs/crc32c.js';
import { manifestOf, assertSameManifest } from '../helpers/fs-manifest.js';
import { EROFS_FIXTURES, CountingSource, fixturePath, fixtureSource, readAll, seed1Manifest } from './erofs-helpers.js';

const expected = seed1Manifest();

async function lookupPath(fs: ErofsFileSystem, path: string) {
  let ino = fs.rootIno;
  let inode = await fs.getattr(ino);
  for (const name of path.split('/').filter(Boolean)) {
    const next = await fs.lookup(ino, name);
    assert.ok(next, `${path}: ${name} not found`);
    inode = next;
    ino = next.ino;
  }
  return inode;
}

for (const name of EROFS_FIXTURES) {
  test(`fixture ${name}.erofs lists exactly tree-seed1.jsonl`, async () => {
    const src = await FileSource.open(fixturePath(name));
    try {
      const fs = await openErofs(src);
      assertSameManifest(await manifestOf(fs), expected, name);
    } finally {
      await src.close();
    }
  });
}

test('info() summarises the superblock like dump.erofs -s', async () => {
  const fs = await openErofs(fixtureSource('lz4hc-packed'));
  const info = fs.info();
  assert.equal(info.blockSize, 4096);
  assert.equal(info.uuid, '6f636966-732d-4669-7874-757265000001');
  assert.equal(info.inodeCount, 1561); // the seed-1 tree plus the packed inode
  assert.deepEqual(info.compressionAlgorithms, ['lz4']);
  assert.ok(info.incompatFeatures.includes('ztailpacking'), info.incompatFeatures.join(' '));
  assert.ok(info.incompatFeatures.includes('fragments'));
  assert.ok(info.compatFeatures.includes('sb_csum'));
  assert.equal(typeof info.packedNid, 'number');
  const text = formatErofsInfo(info);
  assert.match(text, /^Filesystem magic number: +0xE0F5E1E2$/m);
  assert.match(text, /^Filesystem UUID: +6f636966-732d-4669-7874-757265000001$/m);

  // chunked.erofs is made here by Debian's mkfs.erofs: its own dump.erofs gives the numbers.
  const chunked = (await openErofs(fixtureSource('chunked'))).info();
  const dumped = execFileSync('dump.erofs', ['-s', fixturePath('chunked')], { encoding: 'utf8' });
  assert.equal(chunked.totalBlocks, Number(/^Filesystem blocks: +(\d+)$/m.exec(dumped)?.[1]));
  assert.equal(chunked.rootNid, Number(/^Filesystem root nid: +(\d+)$/m.exec(dumped)?.[1]));
  assert.deepEqual(chunked.incompatFeatures, ['chunked_file']);
  const lzma = (await openErofs(fixtureSource('lzma'))).info();
  assert.deepEqual(lzma.compressionAlgorithms, ['lzma']);
  assert.equal(typeof lzma.compressionConfigs.lzma?.dictSize, 'number');
  assert.equal((await openErofs(fixtureSource('plain-512b'))).info().blockSize, 512);
  assert.deepEqual((await openErofs(fixtureSource('zstd'))).info().compressionAlgorithms, ['zstd']);
  assert.deepEqual((await openErofs(fixtureSource('deflate'))).info().compressionAlgorithms, ['deflate']);
});

test('isErofs recognises the superblock magic', async () => {
  assert.equal(await isErofs(fixtureSource('chunked')), true);
  assert.equal(await isErofs(new MemorySource(new Uint8Array(4096))), false);
  assert.equal(await isErofs(new MemorySource(new Uint8Array(100))), false);
});

/** A copy of a fixture with `patch` applied and, unless told otherwise, the checksum fixed. */
function patched(name: string, patch: (b: Uint8Array, dv: DataView) => void, fixCsum = true): MemorySource {
  const b = new Uint8Array(readFileSync(fixturePath(name)));
  const dv = new DataView(b.buffer);
  patch(b, dv);
  if (fixCsum) {
    const bs = 2 ** b[1024 + 12];
    const region = b.slice(1024, 1024 + (bs > 1024 ? bs - 1024 : bs));
    region.fill(0, 4, 8);
    dv.setUint32(1028, crc32cUpdate(0xffffffff, region), true);
  }
  return new MemorySource(b);
}

test('bad images are refused with clear errors', async () => {
  await assert.rejects(openErofs(new MemorySource(new Uint8Array(8192))), (e) =>
    isOcifsError(e, 'ERR_OCIFS_NOT_EROFS'),
  );
  // An unknown incompatible feature is named.
  await assert.rejects(
    openErofs(
      patched('chunked', (_b, dv) => dv.setUint32(1024 + 0x50, dv.getUint32(1024 + 0x50, true) | 0x200 | 0x8000, true)),
    ),
    (e) => isOcifsError(e, 'ERR_OCIFS_EROFS_UNSUPPORTED') && /0x8200 \(bit 9, bit 15\)/.test((e as Error).message),
  );
  // A superblock byte changed without fixing the checksum.
  const bad = patched('chunked', (b) => (b[1024 + 0x40] ^= 1), false);
  await assert.rejects(openErofs(bad), (e) => isOcifsError(e, 'ERR_OCIFS_EROFS_BAD_CHECKSUM'));
  await openErofs(bad, { verifyChecksum: false });
  // Block size out of range.
  await assert.rejects(openErofs(patched('chunked', (b) => (b[1024 + 12] = 17))), (e) =>
    isOcifsError(e, 'ERR_OCIFS_EROFS_UNSUPPORTED'),
  );
  // A root nid pointing at garbage: the root must be a directory.
  await assert.rejects(
    openErofs(patched('chunked', (_b, dv) => dv.setUint16(1024 + 14, 40, true))),
    (e) => isOcifsError(e) && /nid 40/.test((e as Error).message),
  );
  // Truncated: the image ends in the middle of the data.
  const whole = readFileSync(fixturePath('plain-512b'));
  const fs = await openErofs(new MemorySource(new Uint8Array(whole.subarray(0, whole.length >> 1))));
  const big = await lookupPath(fs, 'big/text-2M.txt');
  const f = await fs.openFile(big.ino);
  await assert.rejects(
    readAll(f),
    (e) => isOcifsError(e, 'ERR_OCIFS_CORRUPT_EROFS') && /nid \d+, block \d+/.test((e as Error).message),
  );
  // Options are checked.
  await assert.rejects(openErofs(fixtureSource('chunked'), { metaCacheBytes: -1 }), (e) =>
    isOcifsError(e, 'ERR_OCIFS_INVALID_OPTION'),
  );
});

test('lookup finds every name of a wide directory and nothing else; readdir is in name order', async () => {
  for (const name of ['lz4hc-packed', 'plain-512b']) {
    const fs = await openErofs(fixtureSource(name));
    const wide = await lookupPath(fs, 'wide');
    const names: string[] = [];
    for await (const e of fs.readdir(wide.ino)) names.push(e.name);
    assert.equal(names.length, 1500);
    assert.deepEqual([...names].sort(), names);
    for (const n of names) assert.equal((await fs.lookup(wide.ino, n))?.ino, (await fs.lookup(wide.ino, n))?.ino);
    const got = await Promise.all(names.map((n) => fs.lookup(wide.ino, n)));
    assert.ok(got.every((i) => i !== undefined));
    assert.equal(new Set(got.map((i) => i.ino)).size, 1500);
    for (const miss of [
      'entry-',
      'entry-1500.txt',
      'entry-0000.tx',
      'entry-0000.txtx',
      'a',
      'zzz',
      '.',
      '..x',
      'entry-0750.txt/',
    ]) {
      assert.equal(await fs.lookup(wide.ino, miss), undefined, miss);
    }
    assert.equal(await fs.lookup(wide.ino, 'x'.repeat(300)), undefined);
  }
});

test('hardlinks share an inode; types, devices, errors of the vfs interface', async () => {
  const fs = await openErofs(fixtureSource('chunked'));
  const tool = await lookupPath(fs, 'bin/tool');
  const link = await lookupPath(fs, 'bin/tool-hardlink');
  assert.equal(tool.ino, link.ino);
  assert.equal(tool.nlink, 2);
  assert.equal((await lookupPath(fs, 'bin/fifo')).type, 'fifo');
  const sym = await lookupPath(fs, 'bin/os-release-link');
  assert.equal(await fs.readlink(sym.ino), '../etc/os-release');
  assert.equal(await fs.readlink((await lookupPath(fs, 'bin/long-target')).ino), 'x'.repeat(300));
  await assert.rejects(fs.readlink(tool.ino), (e) => isOcifsError(e, 'ERR_OCIFS_NOT_A_SYMLINK'));
  await assert.rejects(fs.openFile(fs.rootIno), (e) => isOcifsError(e, 'ERR_OCIFS_IS_A_DIRECTORY'));
  await assert.rejects(fs.openFile(sym.ino), (e) => isOcifsError(e, 'ERR_OCIFS_NOT_A_FILE'));
  await assert.rejects(fs.lookup(tool.ino, 'x'), (e) => isOcifsError(e, 'ERR_OCIFS_NOT_A_DIRECTORY'));
  const x = await fs.listxattr(tool.ino);
  assert.deepEqual([...x.keys()], ['user.long.' + 'k'.repeat(100)]);
  assert.equal(Buffer.from(x.get('user.long.' + 'k'.repeat(100))!).toString(), 'v'.repeat(500));
  const st = await fs.stat(tool.ino);
  assert.equal(st.erofs.layout, 'chunk-based');
  assert.equal(st.erofs.chunkSize, 16384);
  assert.equal(fs.statfs().blockSize, 4096);
});

test('random and concurrent reads of compressed files match the plain image', async () => {
  const plain = await openErofs(fixtureSource('plain-512b'));
  for (const name of ['lz4hc-packed', 'lz4-bigpcluster', 'deflate']) {
    const fs = await openErofs(fixtureSource(name), { clusterCacheBytes: 256 * 1024 });
    for (const path of ['big/text-2M.txt', 'big/mixed-512K.bin', 'sizes/f65537', 'bin/tool']) {
      const want = await readAll(await plain.openFile((await lookupPath(plain, path)).ino));
      const src = await fs.openFile((await lookupPath(fs, path)).ino);
      assert.deepEqual(await readAll(src, 777_777), want, `${name}:${path}`);
      let seed = 7;
      const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
      const jobs = Array.from({ length: 64 }, () => {
        const off = rnd(want.length);
        const len = rnd(Math.min(200_000, want.length - off + 1));
        return src
          .read(off, len)
          .then((got) => assert.deepEqual(got, want.subarray(off, off + len), `${name}:${path} ${off}+${len}`));
      });
      await Promise.all(jobs);
      assert.equal((await src.read(want.length, 10)).length, 0);
    }
  }
});

test('bytes read: a lookup reads the superblock block, dir blocks and inodes; a file read its blocks', async () => {
  const counting = new CountingSource(await FileSource.open(fixturePath('chunked')));
  const fs = await openErofs(counting, { metaCacheBytes: 1 << 20 });
  const atOpen = counting.bytes;
  assert.ok(atOpen <= 4096, `open read ${atOpen}`);
  counting.reset();
  const leaf = await lookupPath(
    fs,
    'deep/' + Array.from({ length: 24 }, (_, i) => `d${String(i).padStart(2, '0')}`).join('/') + '/leaf.txt',
  );
  // 25 directories + 1 file: a few metadata pages, no data.
  assert.ok(counting.bytes <= 26 * 2 * 4096, `lookup read ${counting.bytes} bytes in ${counting.reads} reads`);
  counting.reset();
  const data = await readAll(await fs.openFile(leaf.ino));
  assert.equal(Buffer.from(data).toString(), 'deep leaf\n');
  counting.reset();
  const big = await lookupPath(fs, 'big/random-1M.bin');
  counting.reset();
  const content = await readAll(await fs.openFile(big.ino));
  assert.equal(
    createHash('sha256').update(content).digest('hex'),
    '1d54089582434e78944d19add72d02e21b1679182a1476d7e72a9bde9b404531',
  );
  // Chunk indexes come from cached metadata; the data is read exactly once.
  assert.ok(counting.bytes <= (1 << 20) + 4096, `read ${counting.bytes} for a 1 MiB file`);
  await (counting as unknown as { inner: FileSource }).inner.close();
});

test('readahead hints: lookups ask for none, file reads stop at the file, walks and extracts may scan on', async () => {
  for (const name of ['chunked', 'lz4hc-packed', 'plain-512b']) {
    const inner = fixtureSource(name);
    const seen: { offset: number; length: number; options?: ReadOptions }[] = [];
    const spy: ByteSource = {
      size: inner.size,
      read: (offset, length, options) => (seen.push({ offset, length, options }), inner.read(offset, length, options)),
    };
    const fs = await openErofs(spy, { metaCacheBytes: 1 << 20 });
    const big = await lookupPath(fs, 'big/text-2M.txt');
    assert.ok(seen.length > 0);
    for (const r of seen)
      assert.equal(
        r.options?.readaheadLimit,
        r.offset + r.length,
        `${name}: lookup read at ${r.offset}+${r.length} allows readahead`,
      );
    seen.length = 0;
    await readAll(await fs.openFile(big.ino), 256 * 1024);
    for (const r of seen) {
      const limit = r.options?.readaheadLimit;
      assert.ok(
        limit !== undefined && limit >= r.offset + r.length,
        `${name}: file read at ${r.offset}+${r.length} has limit ${limit}`,
      );
      // Never more than the file's size beyond the read (the rest of a contiguous file).
      assert.ok(
        limit <= r.offset + r.length + big.size,
        `${name}: file read at ${r.offset} may read ahead to ${limit}`,
      );
      assert.ok(r.options?.scan !== true);
    }
    seen.length = 0;
    for await (const _ of walk(fs, '/wide'));
    assert.ok(
      seen.length > 0 && seen.some((r) => r.options?.readaheadLimit === undefined),
      `${name}: a walk's metadata reads may read ahead`,
    );
  }
});

test('interlaced (uncompressed, rotated) clusters decode like the kernel: regression for a packed-inode tail at la % 4096 = 148', async () => {
  const { decodeCluster } = await import('../../src/erofs/decompress.js');
  const { Z_EROFS_COMPRESSION_INTERLACED, Z_EROFS_COMPRESSION_SHIFTED } = await import('../../src/erofs/format.js');
  const sb = (await openErofs(fixtureSource('lz4hc-packed'))).superblock;
  const raw = Uint8Array.from({ length: 4096 }, (_, i) => i % 251);
  // mkfs writes an extent starting at la % bs = 148 from byte 148 of the block (write_uncompressed_block).
  const tail = decodeCluster(sb, {
    raw,
    llen: 518,
    alg: Z_EROFS_COMPRESSION_INTERLACED,
    la: 5202068,
    partial: false,
    nid: 1n,
  });
  assert.deepEqual(tail, raw.subarray(148, 148 + 518));
  // A full block starting mid-block wraps around to the block's start.
  const full = decodeCluster(sb, {
    raw,
    llen: 4096,
    alg: Z_EROFS_COMPRESSION_INTERLACED,
    la: 4096 + 100,
    partial: false,
    nid: 1n,
  });
  assert.deepEqual(full, Uint8Array.from([...raw.subarray(100), ...raw.subarray(0, 100)]));
  // Two blocks, aligned: the first block of output is the cluster's last block (z_erofs_transform_plain).
  const two = Uint8Array.from({ length: 8192 }, (_, i) => i % 253);
  const aligned = decodeCluster(sb, {
    raw: two,
    llen: 8192,
    alg: Z_EROFS_COMPRESSION_INTERLACED,
    la: 8192,
    partial: false,
    nid: 1n,
  });
  assert.deepEqual(aligned, Uint8Array.from([...two.subarray(4096), ...two.subarray(0, 4096)]));
  assert.deepEqual(
    decodeCluster(sb, { raw, llen: 10, alg: Z_EROFS_COMPRESSION_SHIFTED, la: 77, partial: false, nid: 1n }),
    raw.subarray(0, 10),
  );
  assert.throws(
    () => decodeCluster(sb, { raw, llen: 5000, alg: Z_EROFS_COMPRESSION_SHIFTED, la: 0, partial: false, nid: 1n }),
    (e) => isOcifsError(e, 'ERR_OCIFS_CORRUPT_EROFS'),
  );
});

test('a compressed file reads its physical clusters once; concurrent readers share one read; reads can be aborted', async () => {
  const counting = new CountingSource(fixtureSource('lz4-bigpcluster'));
  const fs = await openErofs(counting);
  const text = await lookupPath(fs, 'big/text-2M.txt');
  const st = await fs.stat(text.ino);
  assert.equal(st.erofs.layout, 'compressed-compact');
  counting.reset();
  const src = await fs.openFile(text.ino);
  const whole = await readAll(src, 100_000);
  assert.equal(
    createHash('sha256').update(whole).digest('hex'),
    '6d9c2f2c928d5163882ba335b0c7b5202da66991c6759d66fa6c5f4baafa0d30',
  );
  // The clusters (stat's blocks) plus the index pages, nothing else.
  const clusters = st.erofs.blocks * 4096;
  assert.ok(
    counting.bytes >= clusters && counting.bytes <= clusters + 2 * 4096,
    `read ${counting.bytes} for ${clusters} bytes of clusters`,
  );
  // Ten readers of the same 1 KiB at once: one physical read between them.
  const fresh = await openErofs(counting);
  const f = await fresh.openFile(text.ino);
  counting.reset();
  const got = await Promise.all(Array.from({ length: 10 }, () => f.read(1_000_000, 1024)));
  for (const g of got) assert.deepEqual(g, whole.subarray(1_000_000, 1_001_024));
  const dataReads = counting.ranges.filter(([, n]) => n >= 4096 * 2);
  assert.equal(dataReads.length, 1, JSON.stringify(counting.ranges));
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(f.read(0, 10, { signal: ac.signal }), (e) => isOcifsError(e, 'ERR_OCIFS_ABORTED'));
  await assert.rejects(fresh.getattr(text.ino + 1e12), (e) => isOcifsError(e, 'ERR_OCIFS_CORRUPT_EROFS'));
});
