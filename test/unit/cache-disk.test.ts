// The on-disk format and what the cache does with damaged or foreign files: every damaged
// instance is detected and discarded, never served; presence comes only from the map.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, readFile, writeFile, truncate, open, stat, unlink, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { BlobCache, type BlobCacheOptions } from '../../src/cache/index.js';
import { MemorySource } from '../../src/io/index.js';
import { CountingSource, patternBytes } from '../helpers/cache-sources.js';
import { instanceDir } from '../helpers/cache-procs.js';

const KiB = 1024;
const CS = 64 * KiB;
const root = await mkdtemp(join(tmpdir(), 'ocifs-cache-disk-'));
after(() => rm(root, { recursive: true, force: true }));
let n = 0;

function sha256(b: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}
function eq(a: Uint8Array, b: Uint8Array, msg?: string) {
  assert.ok(Buffer.from(a).equals(Buffer.from(b)), msg ?? 'bytes differ');
}

interface Fixture {
  dir: string;
  data: Uint8Array;
  digest: string;
  blobDir: string;
  mapPath: string;
  dataPath: string;
}

/** A cache dir holding one blob, complete (default) or with only `chunks` present. */
async function fixture(size = 10 * CS + 100, chunks?: number[], opts: BlobCacheOptions = {}): Promise<Fixture> {
  const dir = join(root, `c${n++}`);
  const data = patternBytes(size, n);
  const digest = sha256(data);
  const cache = await BlobCache.open(dir, { chunkSize: CS, readahead: false, ...opts });
  const src = await cache.openBlob(digest, size, new MemorySource(data));
  if (chunks) for (const c of chunks) await src.read(c * CS, 1);
  else await src.fill();
  await cache.close();
  const blobDir = instanceDir(dir, digest);
  return { dir, data, digest, blobDir, mapPath: join(blobDir, 'map'), dataPath: join(blobDir, 'data') };
}

/** Reopens the fixture's cache and reads the whole blob; returns the bytes fetched upstream. */
async function readBack(f: Fixture, opts: BlobCacheOptions = {}): Promise<number> {
  const cache = await BlobCache.open(f.dir, { chunkSize: CS, readahead: false, ...opts });
  const up = new CountingSource(new MemorySource(f.data));
  const src = await cache.openBlob(f.digest, f.data.length, up);
  eq(await src.read(0, f.data.length), f.data);
  assert.equal(src.isComplete, true);
  await cache.close();
  return up.bytes;
}

async function patch(path: string, offset: number, bytes: Uint8Array): Promise<void> {
  const fh = await open(path, 'r+');
  await fh.write(bytes, 0, bytes.length, offset);
  await fh.close();
}

test('layout: data file is the blob, map is a 128-byte header plus one byte per chunk', async () => {
  const f = await fixture();
  eq(await readFile(f.dataPath), f.data);
  const map = await readFile(f.mapPath);
  assert.equal(map.length, 128 + 11);
  assert.equal(map.toString('latin1', 0, 8), 'OCIFSMAP');
  assert.equal(map.readUInt16LE(8), 1);
  assert.equal(map.readUInt32LE(12), CS);
  assert.equal(map.readBigUInt64LE(16), BigInt(f.data.length));
  assert.equal(map.toString('hex', 32, 64), f.digest.slice(7));
  assert.equal(map.readUInt32LE(108), crc32(map.subarray(0, 108)));
  assert.equal(String.fromCharCode(map[112]), 'V');
  assert.ok(map.subarray(128).every((b) => b === 0xa5));
  const cache = await BlobCache.open(f.dir);
  assert.equal(cache.path(f.digest), f.dataPath);
  assert.equal(cache.path(), f.dir);
  for (const d of [
    '',
    'blobs',
    'blobs/sha256',
    'partial',
    'partial/sha256',
    'tmp',
    'trash',
    f.blobDir.slice(f.dir.length + 1),
  ]) {
    assert.equal((await stat(join(f.dir, d))).mode & 0o777, 0o700, d);
  }
  assert.equal((await stat(f.dataPath)).mode & 0o777, 0o600);
  assert.ok(
    (await readFile(join(f.dir, 'CACHEDIR.TAG'), 'utf8')).startsWith('Signature: 8a477f597d28d172789f06886806bc55'),
  );
  await cache.close();
});

test('a complete, verified blob is served from disk with no upstream bytes', async () => {
  const f = await fixture();
  assert.equal(await readBack(f), 0);
});

test('presence comes only from the map: bytes in the data file of unmarked chunks are never served', async () => {
  const f = await fixture(10 * CS, [2, 5]);
  // Fill the whole data file with wrong bytes, then restore the two marked chunks' bytes:
  // a cache that inferred presence from non-zero data would serve the garbage.
  const garbage = new Uint8Array(f.data.length).fill(0x5a);
  garbage.set(f.data.subarray(2 * CS, 3 * CS), 2 * CS);
  garbage.set(f.data.subarray(5 * CS, 6 * CS), 5 * CS);
  await writeFile(f.dataPath, garbage);
  assert.equal(await readBack(f), 8 * CS);
});

const headerDamage: [string, number, number][] = [
  ['magic', 0, 0x01],
  ['version', 8, 0x02],
  ['header length', 10, 0x40],
  ['chunk size', 14, 0x01],
  ['blob size', 16, 0x10],
  ['digest algorithm', 24, 0x03],
  ['digest bytes', 40, 0x80],
  ['instance id', 97, 0x01],
  ['checksum', 109, 0x20],
];
for (const [what, off, xor] of headerDamage) {
  test(`a flipped header byte (${what}) discards the instance`, async () => {
    const f = await fixture();
    const map = await readFile(f.mapPath);
    map[off] ^= xor;
    await writeFile(f.mapPath, map);
    assert.equal(await readBack(f), f.data.length);
  });
}

test('a header from another format version (valid checksum) discards the instance', async () => {
  const f = await fixture();
  const map = await readFile(f.mapPath);
  map.writeUInt16LE(2, 8);
  map.writeUInt32LE(crc32(map.subarray(0, 108)), 108);
  await writeFile(f.mapPath, map);
  assert.equal(await readBack(f), f.data.length);
});

for (const [what, value] of [
  ['an unknown state byte', 0x00],
  ['a flipped state bit', 0x56 ^ 0x08],
  ['state bad', 0x58],
] as const) {
  test(`${what} discards the instance`, async () => {
    const f = await fixture();
    await patch(f.mapPath, 112, Uint8Array.of(value));
    assert.equal(await readBack(f), f.data.length);
  });
}

test('a verified state with a missing chunk in the map discards the instance', async () => {
  const f = await fixture();
  await patch(f.mapPath, 128 + 4, Uint8Array.of(0));
  assert.equal(await readBack(f), f.data.length);
});

for (const [what, value] of [
  ['missing -> 0x01 (one bit)', 0x01],
  ['missing -> 0xff', 0xff],
  ['present -> 0xa4 (one bit)', 0xa4],
] as const) {
  test(`a damaged presence byte (${what}) discards the instance`, async () => {
    const f = await fixture(10 * CS, [0, 1, 2]);
    await patch(f.mapPath, 128 + (value === 0xa4 ? 1 : 7), Uint8Array.of(value));
    assert.equal(await readBack(f), 10 * CS);
  });
}

test('a truncated map (inside the header, or inside the chunk bytes) discards the instance', async () => {
  for (const len of [0, 100, 128 + 3]) {
    const f = await fixture();
    await truncate(f.mapPath, len);
    assert.equal(await readBack(f), f.data.length, `map truncated to ${len}`);
  }
});

test('a map with extra bytes discards the instance', async () => {
  const f = await fixture();
  const fh = await open(f.mapPath, 'a');
  await fh.write(Uint8Array.of(0xa5));
  await fh.close();
  assert.equal(await readBack(f), f.data.length);
});

test('a truncated or extended data file discards the instance', async () => {
  for (const len of [0, 5 * CS, 10 * CS + 99, 10 * CS + 101]) {
    const f = await fixture();
    await truncate(f.dataPath, len);
    assert.equal(await readBack(f), f.data.length, `data truncated to ${len}`);
  }
});

test('a missing map or data file discards the instance', async () => {
  let f = await fixture();
  await unlink(f.mapPath);
  assert.equal(await readBack(f), f.data.length);
  f = await fixture();
  await unlink(f.dataPath);
  assert.equal(await readBack(f), f.data.length);
});

test('a partial instance recorded with another blob size is discarded', async () => {
  const f = await fixture(10 * CS, [1, 2]);
  const map = await readFile(f.mapPath);
  map.writeBigUInt64LE(BigInt(10 * CS - 1), 16);
  map.writeUInt32LE(crc32(map.subarray(0, 108)), 108);
  await writeFile(f.mapPath, map.subarray(0, 128 + 10));
  assert.equal(await readBack(f), 10 * CS);
});

test('an instance made with another chunk size is read with its own chunk size, not misread', async () => {
  const f = await fixture(20 * CS, [0, 7], { chunkSize: 128 * KiB }); // 128 KiB chunks 0 and 7
  // Reopened with 64 KiB chunks: the 256 KiB present are reused, the rest fetched.
  assert.equal(await readBack(f, { chunkSize: CS }), 20 * CS - 2 * 128 * KiB);
  assert.equal((await readFile(join(instanceDir(f.dir, f.digest), 'map'))).readUInt32LE(12), 128 * KiB);
});

test('damage found while a source is open (a presence byte) discards and refetches, never serves it', async () => {
  const f = await fixture(10 * CS, [0]);
  const cache = await BlobCache.open(f.dir, { chunkSize: CS, readahead: false });
  const up = new CountingSource(new MemorySource(f.data));
  const src = await cache.openBlob(f.digest, f.data.length, up);
  eq(await src.read(0, 10), f.data.subarray(0, 10));
  await patch(f.mapPath, 128 + 5, Uint8Array.of(0x33));
  eq(await src.read(5 * CS, 2 * CS), f.data.subarray(5 * CS, 7 * CS));
  eq(await src.read(0, f.data.length), f.data);
  assert.equal(src.isComplete, true);
  await cache.close();
  assert.equal((await readFile(join(instanceDir(f.dir, f.digest), 'map')))[128 + 5], 0xa5);
});

test('an instance deleted under an open source (another process gc-ed it): reads stay correct and reattach', async () => {
  const f = await fixture(10 * CS, [0, 1]);
  const cache = await BlobCache.open(f.dir, { chunkSize: CS, readahead: false });
  const up = new CountingSource(new MemorySource(f.data));
  const src = await cache.openBlob(f.digest, f.data.length, up);
  eq(await src.read(0, 2 * CS), f.data.subarray(0, 2 * CS));
  await rm(f.blobDir, { recursive: true });
  eq(await src.read(0, 2 * CS), f.data.subarray(0, 2 * CS)); // old, unlinked but consistent files
  await new Promise((r) => setTimeout(r, 1100));
  eq(await src.read(3 * CS, CS), f.data.subarray(3 * CS, 4 * CS)); // notices, reattaches to a new instance
  eq(await src.read(0, f.data.length), f.data);
  assert.equal(src.isComplete, true);
  await cache.close();
  const map = await readFile(join(instanceDir(f.dir, f.digest), 'map'));
  assert.equal(String.fromCharCode(map[112]), 'V');
});

test('leftovers of interrupted operations (tmp/, trash/) are swept at open', async () => {
  const f = await fixture(2 * CS);
  await writeFile(join(f.dir, 'trash', 'evict-1-abc'), 'x');
  const old = join(f.dir, 'tmp', 'blob-1-old');
  await writeFile(old, 'x');
  const { utimes } = await import('node:fs/promises');
  await utimes(old, new Date(0), new Date(0));
  await writeFile(join(f.dir, 'tmp', 'blob-2-new'), 'x'); // maybe another process's, in progress
  const cache = await BlobCache.open(f.dir);
  assert.deepEqual(await readdir(join(f.dir, 'trash')), []);
  assert.deepEqual(await readdir(join(f.dir, 'tmp')), ['blob-2-new']);
  await cache.close();
});

/** A fresh cache directory and a way to open `data`'s store in it directly (tests of the store itself). */
async function directStore(data: Uint8Array, chunkSize: number) {
  const { openDiskStore } = await import('../../src/cache/disk-open.js');
  const { CacheLayout } = await import('../../src/cache/layout.js');
  const { parseDigest } = await import('../../src/ref/digest.js');
  const dir = join(root, `c${n++}`);
  await (await BlobCache.open(dir)).close();
  const params = {
    layout: new CacheLayout(dir),
    digest: parseDigest(sha256(data)),
    origin: '',
    size: data.length,
    chunkSize,
    adoptChunkSize: true,
    claimStaleMs: 10_000,
    verify: true,
  };
  return { open: () => openDiskStore(params) };
}

test('regression: a store discarded while a write is in flight still flushes and closes (no endless flush)', async () => {
  const data = patternBytes(8 * CS, 99);
  const stores = await directStore(data, CS);
  for (let i = 0; i < 20; i++) {
    const store = await stores.open();
    const w = store.write(0, data.subarray(0, 4 * CS));
    const d = store.discard('test');
    await w;
    await d;
    const closed = await Promise.race([
      store.close().then(() => true),
      new Promise((r) => setTimeout(() => r(false), 5000)),
    ]);
    assert.equal(closed, true, 'close finished');
  }
});

test('stress: refreshing the map while our own marks land is never mistaken for damage', async () => {
  const cs = 4 * KiB;
  const data = patternBytes(2048 * cs, 98);
  const store = await (await directStore(data, cs)).open();
  let stop = false;
  const refresher = (async () => {
    let refreshes = 0;
    while (!stop) {
      await store.refresh(0, store.chunkCount);
      refreshes++;
    }
    return refreshes;
  })();
  const durables: Promise<boolean>[] = [];
  for (let c = 0; c < store.chunkCount; c += 8) {
    const w = await store.write(c, data.subarray(c * cs, (c + 8) * cs));
    durables.push(w!.durable);
  }
  assert.ok((await Promise.all(durables)).every(Boolean));
  stop = true;
  assert.ok((await refresher) > 0);
  assert.equal(store.presentCount, store.chunkCount);
  await store.close();
});

test('a close right after a write commits the write: the chunks are present when the blob is opened again', async () => {
  const cs = 64 * KiB;
  const data = patternBytes(16 * cs, 99);
  const stores = await directStore(data, cs);
  for (let round = 0; round < 20; round++) {
    const store = await stores.open();
    const c = round % 16;
    // Not awaited before the close: a reader that got its bytes exits while they are written.
    const written = store.write(c, data.subarray(c * cs, (c + 1) * cs));
    await store.close();
    const w = await written;
    assert.equal(await w?.durable, true, `round ${round}: the write was not committed`);
    const again = await stores.open();
    assert.ok(again.has(c), `round ${round}: chunk ${c} lost by the close`);
    await again.close();
  }
});
