// CachedSource over a real on-disk cache with in-memory upstreams: exact bytes, what gets
// fetched (counted by an honest counting source), coalescing, parallelism, single-flight,
// readahead, verification, extra bytes, fill, aborts and failures.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { fstatSync, readSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobCache, type BlobCacheOptions } from '../../src/cache/index.js';
import { MemorySource, SliceSource } from '../../src/io/index.js';
import { IoStats } from '../../src/io/io-stats.js';
import { isOcifsError } from '../../src/errors.js';
import {
  CountingSource,
  FailingSource,
  FlippingSource,
  ShortSource,
  SlowSource,
  patternBytes,
} from '../helpers/cache-sources.js';

const KiB = 1024;
const MiB = 1024 * 1024;
const root = await mkdtemp(join(tmpdir(), 'ocifs-cache-source-'));
after(() => rm(root, { recursive: true, force: true }));
let n = 0;

function sha256(b: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

async function setup(size: number, opts: BlobCacheOptions = {}, seed = size) {
  const data = patternBytes(size, seed);
  const digest = sha256(data);
  const up = new CountingSource(new MemorySource(data));
  const cache = await BlobCache.open(join(root, `c${n++}`), { chunkSize: 64 * KiB, readahead: false, ...opts });
  const src = await cache.openBlob(digest, size, up);
  return { data, digest, up, cache, src };
}

function eq(a: Uint8Array, b: Uint8Array, msg?: string) {
  assert.equal(a.byteLength, b.byteLength, msg);
  assert.ok(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)),
    msg ?? 'bytes differ',
  );
}

test('reads return exact bytes and fetch only the chunks they touch, once', async () => {
  const { data, up, src, cache } = await setup(1 * MiB + 777);
  eq(await src.read(100, 10), data.subarray(100, 110));
  assert.deepEqual(up.log, [{ offset: 0, length: 64 * KiB }]);
  eq(await src.read(65 * KiB, 200), data.subarray(65 * KiB, 65 * KiB + 200));
  assert.equal(up.requests, 2);
  // Both chunks now cached: no new request.
  eq(await src.read(0, 128 * KiB), data.subarray(0, 128 * KiB));
  assert.equal(up.requests, 2);
  // A read across the blob's last, short chunk, cut at the end.
  eq(await src.read(data.length - 10, 100), data.subarray(data.length - 10));
  assert.equal(up.log.at(-1)!.offset, 16 * 64 * KiB);
  assert.equal(up.log.at(-1)!.length, 777);
  eq(await src.read(data.length, 5), new Uint8Array(0));
  await assert.rejects(src.read(data.length + 1, 1), (e) => isOcifsError(e, 'ERR_OCIFS_OUT_OF_RANGE'));
  await assert.rejects(src.read(-1, 1), (e) => isOcifsError(e, 'ERR_OCIFS_OUT_OF_RANGE'));
  await cache.close();
});

test('adjacent missing chunks go out as one request, capped at maxRequestBytes', async () => {
  const { data, up, src, cache } = await setup(4 * MiB, { maxRequestBytes: 1 * MiB, parallelism: 1 });
  eq(await src.read(0, 64 * KiB), data.subarray(0, 64 * KiB)); // chunk 0
  eq(await src.read(128 * KiB, 64 * KiB), data.subarray(128 * KiB, 192 * KiB)); // chunk 2
  up.reset();
  // Chunks 0..39: 0 and 2 present; missing runs are [1] and [3..39]; the long run needs 3
  // requests of at most 16 chunks, cut evenly and at claim-block (16-chunk) boundaries.
  eq(await src.read(0, 40 * 64 * KiB), data.subarray(0, 40 * 64 * KiB));
  const C = 64 * KiB;
  assert.deepEqual(up.log, [
    { offset: 1 * C, length: 1 * C },
    { offset: 3 * C, length: 13 * C },
    { offset: 16 * C, length: 13 * C },
    { offset: 29 * C, length: 11 * C },
  ]);
  await cache.close();
});

test('a big read is split over parallel requests, never more than parallelism at once', async () => {
  const data = patternBytes(16 * MiB, 3);
  const up = new CountingSource(new SlowSource(new MemorySource(data), 20));
  const cache = await BlobCache.open(join(root, `c${n++}`), {
    chunkSize: 64 * KiB,
    readahead: false,
    parallelism: 4,
    maxRequestBytes: 8 * MiB,
  });
  const src = await cache.openBlob(sha256(data), data.length, up);
  eq(await src.read(0, 16 * MiB), data);
  assert.equal(up.maxInFlight, 4);
  assert.equal(up.requests, 4);
  assert.equal(up.bytes, 16 * MiB);
  await cache.close();
});

test('concurrent reads of the same chunks share one download (single-flight)', async () => {
  const data = patternBytes(2 * MiB, 4);
  const up = new CountingSource(new SlowSource(new MemorySource(data), 30));
  const cache = await BlobCache.open(join(root, `c${n++}`), { chunkSize: 64 * KiB, readahead: false, parallelism: 1 });
  const src = await cache.openBlob(sha256(data), data.length, up);
  const reads = await Promise.all(Array.from({ length: 8 }, (_, i) => src.read(i * 1000, 300 * KiB)));
  reads.forEach((r, i) => eq(r, data.subarray(i * 1000, i * 1000 + 300 * KiB)));
  assert.equal(up.bytes, 5 * 64 * KiB);
  // Eight readers of the same range in one process fetch it exactly once.
  up.reset();
  const whole = await Promise.all(Array.from({ length: 8 }, () => src.read(0, 2 * MiB)));
  whole.forEach((r) => eq(r, data));
  assert.equal(up.bytes, 2 * MiB - 5 * 64 * KiB);
  await cache.close();
});

test('a second openBlob of the same digest shares the source; closing one handle keeps the other working', async () => {
  const { data, digest, up, src, cache } = await setup(512 * KiB);
  const again = await cache.openBlob(digest, data.length, up);
  assert.equal(again, src);
  await src.close();
  eq(await again.read(0, 1000), data.subarray(0, 1000));
  eq(await again.read(0, data.length), data);
  await again.close();
  await assert.rejects(again.read(0, 1), (e) => isOcifsError(e, 'ERR_OCIFS_CACHE_CLOSED'));
  // Another size for a digest whose cached copy is verified: the caller is wrong, the copy stays.
  await assert.rejects(
    cache.openBlob(digest, data.length + 1, new MemorySource(new Uint8Array(data.length + 1))),
    (e) => isOcifsError(e, 'ERR_OCIFS_SIZE_MISMATCH'),
  );
  assert.equal((await cache.list())[0].verified, true);
  await cache.close();
});

test('sequential reads trigger readahead; random reads do not', async () => {
  const data = patternBytes(32 * MiB, 5);
  const up = new CountingSource(new MemorySource(data));
  const cache = await BlobCache.open(join(root, `c${n++}`), {
    chunkSize: 64 * KiB,
    readahead: { initialBytes: 512 * KiB, maxBytes: 4 * MiB },
  });
  const src = await cache.openBlob(sha256(data), data.length, up);
  for (let off = 0; off < 1 * MiB; off += 128 * KiB)
    eq(await src.read(off, 128 * KiB), data.subarray(off, off + 128 * KiB));
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(up.bytes > 1 * MiB, `readahead fetched beyond the reads (${up.bytes})`);
  assert.ok(up.bytes <= 1 * MiB + 4 * MiB + 128 * KiB, `readahead bounded (${up.bytes})`);
  const before = up.bytes;
  // Random 4 KiB reads far from the stream: one chunk each, nothing more.
  const offsets = [20 * MiB + 5, 9 * MiB + 70_000, 30 * MiB + 1, 14 * MiB + 3, 25 * MiB + 99_999, 18 * MiB];
  for (const off of offsets) eq(await src.read(off, 4096), data.subarray(off, off + 4096));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(up.bytes - before, offsets.length * 64 * KiB);
  await cache.close();
});

test("readahead stops at the reader's readaheadLimit, also through a SliceSource", async () => {
  const data = patternBytes(32 * MiB, 15);
  const up = new CountingSource(new MemorySource(data));
  const cache = await BlobCache.open(join(root, `c${n++}`), {
    chunkSize: 64 * KiB,
    readahead: { initialBytes: 512 * KiB, maxBytes: 4 * MiB },
  });
  const src = await cache.openBlob(sha256(data), data.length, up);
  // A "file" of 1.5 MiB at 8 MiB, read sequentially in 128 KiB pieces through a slice.
  const file = new SliceSource(src, 8 * MiB, 1.5 * MiB);
  for (let off = 0; off < 1 * MiB; off += 128 * KiB) {
    eq(
      await file.read(off, 128 * KiB, { readaheadLimit: file.size }),
      data.subarray(8 * MiB + off, 8 * MiB + off + 128 * KiB),
    );
  }
  await new Promise((r) => setTimeout(r, 50));
  // Readahead ran (beyond the 1 MiB read) but not past the file's end.
  assert.ok(up.bytes > 1 * MiB, `readahead fetched beyond the reads (${up.bytes})`);
  assert.equal(up.bytes, 1.5 * MiB);
  // A limit at the read's own end: no readahead at all.
  up.reset();
  for (let off = 16 * MiB; off < 17 * MiB; off += 128 * KiB)
    eq(await src.read(off, 128 * KiB, { readaheadLimit: off + 128 * KiB }), data.subarray(off, off + 128 * KiB));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(up.bytes, 1 * MiB);
  await cache.close();
});

test('fileSpans: none until the blob is complete and verified, then ranges of its data file on a descriptor kept until close', async () => {
  const { data, src, cache } = await setup(1 * MiB + 77);
  assert.equal(await src.fileSpans(0, 4096), undefined);
  eq(await src.read(0, 512 * KiB), data.subarray(0, 512 * KiB));
  assert.equal(await src.fileSpans(0, 4096), undefined, 'incomplete');
  eq(await src.read(512 * KiB, data.length), data.subarray(512 * KiB));
  assert.equal(src.isComplete, true);
  const spans = await src.fileSpans(1000, 300_000);
  assert.ok(spans && spans.length === 1);
  const [sp] = spans;
  assert.equal(sp.length, 300_000);
  const st = fstatSync(sp.fd, { bigint: true });
  assert.equal(sp.fileId, `${st.dev}:${st.ino}`);
  const got = Buffer.alloc(sp.length);
  assert.equal(readSync(sp.fd, got, 0, sp.length, sp.position), sp.length);
  eq(got, data.subarray(1000, 301_000));
  assert.deepEqual(await src.fileSpans(data.length, 0), []);
  await src.close();
  assert.throws(() => fstatSync(sp.fd), /EBADF/, 'the descriptor is closed with the source');
  await cache.close();
});

test('fileSpans with `unverified`: spans of an incomplete blob only where every chunk is present, on a descriptor kept until close', async () => {
  const { data, src, cache } = await setup(1 * MiB + 77);
  eq(await src.read(0, 512 * KiB), data.subarray(0, 512 * KiB));
  await src.flush();
  assert.equal(src.isComplete, false);
  assert.equal(await src.fileSpans(1000, 4096), undefined, 'not without the option');
  assert.equal(await src.fileSpans(500 * KiB, 64 * KiB, { unverified: true }), undefined, 'a chunk of it is missing');
  const spans = await src.fileSpans(1000, 300_000, { unverified: true });
  assert.ok(spans && spans.length === 1, 'present chunks');
  const [sp] = spans;
  const got = Buffer.alloc(sp.length);
  assert.equal(readSync(sp.fd, got, 0, sp.length, sp.position), sp.length);
  eq(got, data.subarray(1000, 301_000));
  const st = fstatSync(sp.fd, { bigint: true });
  assert.equal(sp.fileId, `${st.dev}:${st.ino}`);
  await src.close();
  assert.throws(() => fstatSync(sp.fd), /EBADF/, 'the descriptor is closed with the source');
  await cache.close();
});

test('a blob that completes is verified; the cache then serves it without the map', async () => {
  const { data, digest, up, src, cache } = await setup(3 * MiB + 5);
  assert.equal(src.isComplete, false);
  eq(await src.read(0, data.length), data);
  assert.equal(src.isComplete, true);
  const [e] = await cache.list();
  assert.equal(e.digest, digest);
  assert.equal(e.verified, true);
  assert.equal(e.complete, true);
  assert.equal(e.presentBytes, data.length);
  up.reset();
  eq(await src.read(12345, 1 * MiB), data.subarray(12345, 12345 + MiB));
  assert.equal(up.requests, 0);
  await cache.close();
});

test('a lying upstream: the read that completes the blob rejects with DigestMismatchError and nothing stays cached', async () => {
  const data = patternBytes(1 * MiB, 6);
  const digest = sha256(data);
  const liar = new FlippingSource(new MemorySource(data), 700_000);
  const cache = await BlobCache.open(join(root, `c${n++}`), { chunkSize: 64 * KiB, readahead: false });
  const src = await cache.openBlob(digest, data.length, liar);
  // Chunk-wise, before completion, bytes are served unverified (documented).
  eq(await src.read(0, 1000), data.subarray(0, 1000));
  await assert.rejects(src.read(0, data.length), (e) => isOcifsError(e, 'ERR_OCIFS_DIGEST_MISMATCH'));
  assert.equal(src.isComplete, false);
  assert.deepEqual(await cache.list(), []);
  // The registry fixes itself: the same source refetches and completes.
  liar.at = -1;
  eq(await src.read(0, data.length), data);
  assert.equal(src.isComplete, true);
  await cache.close();
});

test('a mismatch found by readahead still rejects the reader that reaches the end (regression)', async () => {
  const data = patternBytes(4 * MiB, 15);
  const cache = await BlobCache.open(join(root, `c${n++}`), {
    chunkSize: 64 * KiB,
    readahead: { initialBytes: 1 * MiB, maxBytes: 4 * MiB },
  });
  const src = await cache.openBlob(
    sha256(data),
    data.length,
    new FlippingSource(new MemorySource(data), data.length - 3),
  );
  await assert.rejects(
    (async () => {
      for (let off = 0; off < data.length; off += 128 * KiB)
        eq(
          await src.read(off, 128 * KiB),
          data.subarray(off, off + 128 * KiB).map((b, i) => (off + i === data.length - 3 ? b ^ 0xff : b)),
        );
    })(),
    (e) => isOcifsError(e, 'ERR_OCIFS_DIGEST_MISMATCH'),
  );
  assert.equal(src.isComplete, false);
  await cache.close();
});

test('verifyBeforeServe: a lying upstream never gets a byte to the caller', async () => {
  const data = patternBytes(1 * MiB, 7);
  const cache = await BlobCache.open(join(root, `c${n++}`), {
    chunkSize: 64 * KiB,
    readahead: false,
    verifyBeforeServe: true,
  });
  const src = await cache.openBlob(sha256(data), data.length, new FlippingSource(new MemorySource(data), 5));
  await assert.rejects(src.read(100, 10), (e) => isOcifsError(e, 'ERR_OCIFS_DIGEST_MISMATCH'));
  await src.close();
  const honest = new CountingSource(new MemorySource(data));
  const src2 = await cache.openBlob(sha256(data), data.length, honest);
  eq(await src2.read(100, 10), data.subarray(100, 110));
  assert.equal(src2.isComplete, true);
  assert.equal(honest.bytes, data.length);
  await cache.close();
});

test('verify: false marks a complete blob complete without hashing; cache.verify() hashes it later', async () => {
  const { data, digest, src, cache } = await setup(300 * KiB, { verify: false });
  eq(await src.read(0, data.length), data);
  assert.equal(src.isComplete, true);
  let [e] = await cache.list();
  assert.equal(e.complete, true);
  assert.equal(e.verified, false);
  assert.deepEqual(await cache.verify(digest), [
    { digest, origin: null, status: 'verified', discarded: false, sidecars: { kept: [], discarded: [] } },
  ]);
  [e] = await cache.list();
  assert.equal(e.verified, true);
  await cache.close();
});

test('an upstream returning a short body is an error, never a short read', async () => {
  const data = patternBytes(256 * KiB, 8);
  const cache = await BlobCache.open(join(root, `c${n++}`), { chunkSize: 64 * KiB, readahead: false });
  const src = await cache.openBlob(sha256(data), data.length, new ShortSource(new MemorySource(data)));
  await assert.rejects(src.read(0, 100), (e) => isOcifsError(e, 'ERR_OCIFS_SHORT_READ'));
  const [e] = await cache.list();
  assert.equal(e.presentBytes, 0);
  await cache.close();
});

test('upstream failures reject the reads that needed them; later reads retry', async () => {
  const data = patternBytes(512 * KiB, 9);
  let fail = true;
  const up = new FailingSource(new MemorySource(data), () => fail);
  const cache = await BlobCache.open(join(root, `c${n++}`), { chunkSize: 64 * KiB, readahead: false });
  const src = await cache.openBlob(sha256(data), data.length, up);
  const rs = await Promise.allSettled([src.read(0, 100), src.read(10, 100), src.read(200 * KiB, 10)]);
  assert.ok(rs.every((r) => r.status === 'rejected'));
  fail = false;
  eq(await src.read(0, data.length), data);
  assert.equal(src.isComplete, true);
  await cache.close();
});

test('an aborted read rejects at once; the shared download goes on for the others', async () => {
  const data = patternBytes(1 * MiB, 10);
  const up = new CountingSource(new SlowSource(new MemorySource(data), 100));
  const cache = await BlobCache.open(join(root, `c${n++}`), { chunkSize: 64 * KiB, readahead: false });
  const src = await cache.openBlob(sha256(data), data.length, up);
  const ac = new AbortController();
  const a = src.read(0, 100, { signal: ac.signal });
  const b = src.read(0, 100);
  setTimeout(() => ac.abort(), 10);
  await assert.rejects(a, (e) => isOcifsError(e, 'ERR_OCIFS_ABORTED'));
  eq(await b, data.subarray(0, 100));
  assert.equal(up.requests, 1);
  const pre = new AbortController();
  pre.abort();
  await assert.rejects(src.read(0, 1, { signal: pre.signal }), (e) => isOcifsError(e, 'ERR_OCIFS_ABORTED'));
  await cache.close();
});

test('stats count hit and miss bytes', async () => {
  const stats = new IoStats();
  const { src, cache } = await setup(512 * KiB, { stats });
  await src.read(0, 100 * KiB); // chunks 0,1 missing
  assert.equal(stats.cacheMissBytes, 100 * KiB);
  assert.equal(stats.cacheHitBytes, 0);
  await src.read(10, 1000); // present
  assert.equal(stats.cacheHitBytes, 1000);
  await src.read(100 * KiB, 50 * KiB); // 100K..128K present (chunk 1), 128K..150K missing
  assert.equal(stats.cacheHitBytes, 1000 + 28 * KiB);
  assert.equal(stats.cacheMissBytes, 100 * KiB + 22 * KiB);
  await cache.close();
});

test('storeExtra keeps whole chunks of bytes the upstream got anyway, across calls in offset order', async () => {
  const { data, up, src, cache } = await setup(1 * MiB + 100);
  // A Range-ignoring registry streamed the blob in odd pieces.
  const piece = 50_000;
  for (let off = 0; off < data.length; off += piece)
    await src.storeExtra(off, data.subarray(off, Math.min(data.length, off + piece)));
  eq(await src.read(0, data.length), data);
  assert.equal(up.requests, 0);
  assert.equal(src.isComplete, true);
  await cache.close();
});

test('storeExtra with a gap keeps only chunks it fully covers', async () => {
  const { data, up, src, cache } = await setup(1 * MiB);
  await src.storeExtra(10, data.subarray(10, 200 * KiB)); // covers chunks 1 and 2 fully, 0 and 3 partly
  assert.deepEqual(await src.missingRanges(), [
    { offset: 0, length: 64 * KiB },
    { offset: 192 * KiB, length: 1 * MiB - 192 * KiB },
  ]);
  eq(await src.read(0, 256 * KiB), data.subarray(0, 256 * KiB));
  // Two requests (in either order: they run in parallel).
  assert.deepEqual(
    [...up.log].sort((x, y) => x.offset - y.offset),
    [
      { offset: 0, length: 64 * KiB },
      { offset: 192 * KiB, length: 64 * KiB },
    ],
  );
  await cache.close();
});

test('fill downloads every missing chunk, reports progress, verifies', async () => {
  const { data, up, src, cache } = await setup(5 * MiB + 3, { maxRequestBytes: 1 * MiB });
  await src.read(2 * MiB, 10);
  const seen: number[] = [];
  await src.fill({ onProgress: (p, t) => (assert.equal(t, data.length), seen.push(p)) });
  assert.equal(src.isComplete, true);
  assert.equal(src.presentBytes, data.length);
  assert.equal(seen.at(-1), data.length);
  assert.ok(seen.length > 2);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i] >= seen[i - 1]);
  assert.equal(up.bytes, data.length);
  assert.deepEqual(await src.missingRanges(), []);
  await cache.close();
});

test('low-priority fill lets a user read go first', async () => {
  const data = patternBytes(8 * MiB, 11);
  const up = new CountingSource(new SlowSource(new MemorySource(data), 15));
  const cache = await BlobCache.open(join(root, `c${n++}`), {
    chunkSize: 64 * KiB,
    readahead: false,
    parallelism: 2,
    maxRequestBytes: 256 * KiB,
  });
  const src = await cache.openBlob(sha256(data), data.length, up);
  const fill = src.fill({ priority: 'low' });
  await new Promise((r) => setTimeout(r, 20));
  const issuedAt = up.log.length;
  eq(await src.read(7 * MiB, 100), data.subarray(7 * MiB, 7 * MiB + 100));
  // One slot is kept free of background work: the read's request went out next (at most one
  // fill request may have started in the same instant), not after the queued fill requests.
  const at = up.log.findIndex((r) => r.offset <= 7 * MiB && r.offset + r.length > 7 * MiB);
  assert.ok(at - issuedAt <= 1, `read request was #${at}, issued when ${issuedAt} had gone out`);
  await fill;
  assert.equal(src.isComplete, true);
  assert.equal(up.bytes, data.length);
  await cache.close();
});

test('fill honours its abort signal', async () => {
  const data = patternBytes(4 * MiB, 12);
  const cache = await BlobCache.open(join(root, `c${n++}`), {
    chunkSize: 64 * KiB,
    readahead: false,
    parallelism: 1,
    maxRequestBytes: 64 * KiB,
  });
  const src = await cache.openBlob(sha256(data), data.length, new SlowSource(new MemorySource(data), 5));
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 30);
  await assert.rejects(src.fill({ signal: ac.signal }), (e) => isOcifsError(e, 'ERR_OCIFS_ABORTED'));
  assert.equal(src.isComplete, false);
  await cache.close();
});

test('an empty blob is complete and verified at once', async () => {
  const data = new Uint8Array(0);
  const cache = await BlobCache.open(join(root, `c${n++}`));
  const src = await cache.openBlob(sha256(data), 0, new MemorySource(data));
  eq(await src.read(0, 10), data);
  assert.equal(src.isComplete, true);
  await cache.close();
});

test('bad arguments are refused naming the option', async () => {
  const cache = await BlobCache.open(join(root, `c${n++}`));
  const m = new MemorySource(new Uint8Array(10));
  // A bad digest is the digest parser's error, as everywhere else.
  const badDigest = (message: RegExp) => ({ code: 'ERR_OCIFS_INVALID_DIGEST', message });
  await assert.rejects(cache.openBlob('sha256:abc', 10, m), badDigest(/sha256 needs 64 hex digits/));
  await assert.rejects(cache.openBlob('SHA256:' + 'a'.repeat(64), 10, m), badDigest(/expected ALGORITHM:HEX/));
  await assert.rejects(cache.openBlob('md5:' + 'a'.repeat(32), 10, m), badDigest(/unsupported algorithm md5/));
  await assert.rejects(cache.openBlob('sha256:' + 'a'.repeat(64), 11, m), /invalid option size/);
  await assert.rejects(cache.openBlob('sha256:' + 'a'.repeat(64), -1, m), /invalid option size/);
  await assert.rejects(
    cache.openBlob('sha256:' + 'a'.repeat(64), 10, m, { parallelism: 0 }),
    /invalid option parallelism/,
  );
  await assert.rejects(
    BlobCache.open(join(root, 'x'), { chunkSize: 100_000 }),
    /invalid option chunkSize: must be a power of two/,
  );
  await assert.rejects(BlobCache.open(join(root, 'x'), { chunkSize: 1024 }), /invalid option chunkSize/);
  await assert.rejects(BlobCache.open(join(root, 'x'), { maxSize: -5 }), /invalid option maxSize/);
  await assert.rejects(
    BlobCache.open(join(root, 'x'), { readahead: { initialBytes: 10, maxBytes: 5 } }),
    /invalid option readahead.maxBytes/,
  );
  await assert.rejects(BlobCache.open(join(root, 'x'), { maxRequestBytes: 10 }), /invalid option maxRequestBytes/);
  await cache.close();
});

test('sha512 digests are verified with sha512', async () => {
  const data = patternBytes(200 * KiB, 13);
  const digest = 'sha512:' + createHash('sha512').update(data).digest('hex');
  const cache = await BlobCache.open(join(root, `c${n++}`), { chunkSize: 64 * KiB });
  const src = await cache.openBlob(digest, data.length, new MemorySource(data));
  eq(await src.read(0, data.length), data);
  assert.equal(src.isComplete, true);
  const bad = patternBytes(200 * KiB, 14);
  const src2 = await cache.openBlob(digest.slice(0, -4) + '0000', bad.length, new MemorySource(bad));
  await assert.rejects(src2.read(0, bad.length), (e) => isOcifsError(e, 'ERR_OCIFS_DIGEST_MISMATCH'));
  await cache.close();
});

test('regression: a probe of a header then the whole header (two reads at offset 0) opens no readahead window', async () => {
  const { Readahead } = await import('../../src/cache/readahead.js');
  const ra = new Readahead(64 * 1024 * 1024, 256 * 1024, 1024 * 1024, 8 * 1024 * 1024);
  assert.deepEqual(ra.observe(0, 1028), { kind: 'none' });
  assert.deepEqual(ra.observe(0, 4096), { kind: 'none' });
  // A read that starts where the last one ended is streaming: now the window opens.
  assert.equal(ra.observe(4096, 4096).kind, 'fetch');
});

test('openVerifiedFile: a handle on the data file of a verified blob only', async () => {
  const { data, src, cache } = await setup(1 * MiB + 3);
  assert.equal(await src.openVerifiedFile(), null, 'partial');
  await src.fill();
  const fh = await src.openVerifiedFile();
  assert.ok(fh);
  const buf = Buffer.alloc(data.length + 10);
  const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
  assert.equal(bytesRead, data.length);
  eq(buf.subarray(0, bytesRead), data);
  await fh.close();
  // Evicted: the source lets go of the instance, and hands out nothing until it is complete again.
  await cache.removeAll();
  assert.equal(await src.openVerifiedFile(), null);
  await cache.close();
  const { MemoryBlobCache } = await import('../../src/cache/index.js');
  const mem = new MemoryBlobCache();
  const m = await mem.openBlob(sha256(data), data.length, new MemorySource(data));
  await m.fill();
  assert.equal(await m.openVerifiedFile(), null, 'memory mode has no file');
  await mem.close();
});
