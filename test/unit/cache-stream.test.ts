// CachedSource.streamRange and the streamed fill over a real on-disk cache with a streaming
// in-memory upstream: exact bytes in order, one upstream stream per long missing run, bytes
// cached and verified on the way, readers joining a stream, foreign claims respected, failures,
// lies and aborts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobCache, type BlobCacheOptions } from '../../src/cache/index.js';
import { DEFAULT_STREAM_MIN_BYTES } from '../../src/cache/options.js';
import { MemorySource } from '../../src/io/index.js';
import { IoStats } from '../../src/io/io-stats.js';
import { isOcifsError } from '../../src/errors.js';
import { patternBytes } from '../helpers/cache-sources.js';
import { collect, StreamingSource, type StreamingSourceOptions } from '../helpers/stream-sources.js';
import { instanceDir } from '../helpers/cache-procs.js';

const KiB = 1024;
const MiB = 1024 * 1024;
const root = await mkdtemp(join(tmpdir(), 'ocifs-cache-stream-'));
after(() => rm(root, { recursive: true, force: true }));
let n = 0;

async function setup(size: number, opts: BlobCacheOptions = {}, upOpts: StreamingSourceOptions = {}) {
  const data = patternBytes(size, size + n);
  const digest = 'sha256:' + createHash('sha256').update(data).digest('hex');
  const up = new StreamingSource(new MemorySource(data), upOpts);
  const dir = join(root, `c${n++}`);
  const cache = await BlobCache.open(dir, { chunkSize: 64 * KiB, readahead: false, ...opts });
  const src = await cache.openBlob(digest, size, up);
  return { data, digest, up, cache, src, dir };
}

/**
 * Holds the upstream's streams at byte `at`: runs `start`, waits until a stream reaches `at`, and
 * returns the function that lets it go on.
 */
async function holdAt(up: StreamingSource, at: number, start: () => unknown): Promise<() => void> {
  let release!: () => void;
  up.gate = new Promise<void>((r) => (release = r));
  up.gateAt = at;
  const reached = new Promise<void>((r) => (up.onGate = r));
  start();
  await reached;
  return release;
}

function eq(a: Uint8Array, b: Uint8Array, msg?: string) {
  assert.equal(a.byteLength, b.byteLength, msg);
  assert.ok(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)),
    msg ?? 'bytes differ',
  );
}

test('a cold whole blob is one upstream stream: exact bytes in order, cached and verified on the way', async () => {
  const stats = new IoStats();
  const { data, up, cache, src } = await setup(24 * MiB + 12345, { stats });
  eq(await collect(src, 0, data.byteLength), data);
  assert.deepEqual(up.streams, [{ offset: 0, length: data.byteLength }]);
  assert.equal(up.reads, 0);
  assert.equal(src.isComplete, true);
  assert.equal(stats.cacheMissBytes, data.byteLength);
  const [entry] = await cache.list();
  assert.equal(entry.verified, true);
  // now everything comes from the data file
  up.reset();
  eq(await collect(src, 100, 10 * MiB), data.subarray(100, 100 + 10 * MiB));
  eq(await src.read(data.byteLength - 5, 5), data.subarray(data.byteLength - 5));
  assert.equal(up.streams.length + up.reads, 0);
  await cache.close();
});

test('a range starting and ending inside chunks: exact bytes; whole chunks are streamed and kept', async () => {
  const { data, up, cache, src } = await setup(20 * MiB);
  const from = 3 * 64 * KiB + 17;
  const to = from + 12 * MiB + 1000;
  eq(await collect(src, from, to - from), data.subarray(from, to));
  assert.equal(up.streams.length, 1);
  assert.equal(up.streams[0].offset, 3 * 64 * KiB);
  assert.equal(up.streams[0].offset + up.streams[0].length, Math.ceil(to / (64 * KiB)) * 64 * KiB);
  up.reset();
  eq(await src.read(3 * 64 * KiB, 64 * KiB), data.subarray(3 * 64 * KiB, 4 * 64 * KiB));
  eq(await src.read(to, 10), data.subarray(to, to + 10));
  assert.equal(up.reads + up.streams.length, 0, 'the chunks the stream covered are cached');
  await cache.close();
});

test('short ranges and short missing runs are read, not streamed; a partly cached blob streams only its long holes', async () => {
  const { data, up, cache, src } = await setup(40 * MiB);
  eq(
    await collect(src, 5 * MiB, DEFAULT_STREAM_MIN_BYTES - 64 * KiB),
    data.subarray(5 * MiB, 5 * MiB + DEFAULT_STREAM_MIN_BYTES - 64 * KiB),
  );
  assert.equal(up.streams.length, 0);
  assert.ok(up.reads >= 1);
  // holes: [0, 5 MiB) short, after 13 MiB a long one; plus a small cached island inside it
  eq(await src.read(25 * MiB, 100), data.subarray(25 * MiB, 25 * MiB + 100));
  up.reset();
  eq(await collect(src, 0, data.byteLength, { slow: true }), data);
  assert.deepEqual(
    up.streams.map((s) => [s.offset, s.offset + s.length]),
    [
      [13 * MiB - 64 * KiB, 25 * MiB],
      [25 * MiB + 64 * KiB, 40 * MiB],
    ],
  );
  assert.equal(src.isComplete, true);
  await cache.close();
});

test('a lying upstream: the stream that completes the blob rejects with DigestMismatchError; nothing stays cached', async () => {
  const { data, up, cache, src } = await setup(16 * MiB, {}, { flipAt: 9 * MiB + 3 });
  await assert.rejects(collect(src, 0, data.byteLength), (e) => isOcifsError(e, 'ERR_OCIFS_DIGEST_MISMATCH'));
  const list = await cache.list();
  assert.ok(
    list.every((e) => !e.verified && e.presentBytes === 0),
    JSON.stringify(list),
  );
  up.reset();
  await assert.rejects(
    src.read(0, 10).then(() => collect(src, 0, data.byteLength)),
    (e) => isOcifsError(e, 'ERR_OCIFS_DIGEST_MISMATCH'),
  );
  assert.ok(up.streams.length + up.reads > 0, 'fetched again');
  await cache.close();
});

test('verifyBeforeServe: a lying streamed upstream never gets a byte to the sink', async () => {
  const { data, cache, src } = await setup(12 * MiB, { verifyBeforeServe: true }, { flipAt: 100 });
  let got = 0;
  await assert.rejects(
    src.streamRange(0, data.byteLength, (c) => {
      got += c.byteLength;
    }),
    (e) => isOcifsError(e, 'ERR_OCIFS_DIGEST_MISMATCH'),
  );
  assert.equal(got, 0);
  await cache.close();
});

test('an upstream failing mid-stream: the stream rejects, whole batches received stay cached, a retry completes', async () => {
  const { data, up, cache, src } = await setup(24 * MiB);
  up.failAfter = 10 * MiB + 5;
  await assert.rejects(collect(src, 0, data.byteLength), /stream failure/);
  assert.ok(src.presentBytes >= 8 * MiB, `present ${src.presentBytes}`);
  await src.flush();
  up.reset();
  eq(await collect(src, 0, data.byteLength), data);
  assert.equal(up.streams.length, 1);
  assert.ok(up.streams[0].offset >= 8 * MiB, `restarted at ${up.streams[0].offset}`);
  assert.equal(src.isComplete, true);
  await cache.close();
});

test('reads during a stream: one inside the batch arriving joins it; one far ahead is fetched by itself; all exact', async () => {
  const { data, up, cache, src } = await setup(32 * MiB);
  let streamed!: Promise<Uint8Array>;
  const release = await holdAt(up, 5 * MiB, () => (streamed = collect(src, 0, data.byteLength)));
  // 5 MiB is in the second batch [4 MiB, 8 MiB): an in-flight task of the stream
  const near = src.read(5 * MiB + 100, 1000);
  const far = src.read(30 * MiB, 4096);
  eq(await far, data.subarray(30 * MiB, 30 * MiB + 4096));
  assert.equal(up.reads, 1, 'only the far read went upstream');
  release();
  eq(await near, data.subarray(5 * MiB + 100, 5 * MiB + 1100));
  eq(await streamed, data);
  assert.equal(up.reads, 1);
  assert.equal(src.isComplete, true);
  await cache.close();
});

test('a stream that reaches a batch readers already fetched ends there and resumes after it, not downloading it twice', async () => {
  const { data, up, cache, src } = await setup(48 * MiB);
  let streamed!: Promise<Uint8Array>;
  const release = await holdAt(up, 5 * MiB, () => (streamed = collect(src, 0, data.byteLength)));
  // A whole 4 MiB batch far ahead of the stream, fetched by a read meanwhile.
  eq(await src.read(36 * MiB, 4 * MiB), data.subarray(36 * MiB, 40 * MiB));
  assert.equal(up.reads, 1);
  release();
  eq(await streamed, data);
  assert.deepEqual(up.streams, [
    { offset: 0, length: 48 * MiB },
    { offset: 40 * MiB, length: 8 * MiB },
  ]);
  assert.equal(src.isComplete, true);
  await cache.close();
});

test('a block another live process has claimed ends the stream there; its bytes are waited for, then fetched', async () => {
  const { data, up, cache, src, dir } = await setup(24 * MiB, { claimStaleMs: 300 });
  await src.read(0, 1); // creates the instance
  const claims = join(instanceDir(dir, src.digest), 'claims');
  await mkdir(claims, { recursive: true });
  // block 12 (MiB 12) is "being downloaded" by pid 1 on this host, which never delivers
  await writeFile(
    join(claims, '12'),
    `ocifs-claim 1 ${hostname().replace(/\s/g, '_') || 'localhost'} 0123456789abcdef ${Date.now()}\n`,
  );
  up.reset();
  eq(await collect(src, 0, data.byteLength), data);
  assert.ok(up.streams.length >= 2, `streams ${JSON.stringify(up.streams)}`);
  const first = up.streams[0];
  assert.ok(first.offset + first.length <= 12 * MiB || up.streamedBytes < data.byteLength * 1.6);
  assert.equal(src.isComplete, true);
  await cache.close();
});

test('an aborted stream rejects promptly with ERR_OCIFS_ABORTED; the next one completes', async () => {
  const { data, cache, src } = await setup(16 * MiB);
  const ac = new AbortController();
  let got = 0;
  await assert.rejects(
    src.streamRange(
      0,
      data.byteLength,
      (c) => {
        got += c.byteLength;
        if (got > 2 * MiB) ac.abort();
      },
      { signal: ac.signal },
    ),
    (e) => isOcifsError(e, 'ERR_OCIFS_ABORTED'),
  );
  eq(await collect(src, 0, data.byteLength), data);
  await cache.close();
});

test('closing the cache during a stream rejects it (never hangs)', async () => {
  const { data, up, cache, src } = await setup(16 * MiB);
  up.gate = new Promise<void>(() => {});
  up.gateAt = 6 * MiB;
  const reached = new Promise<void>((r) => (up.onGate = r));
  const outcome = collect(src, 0, data.byteLength).then(
    () => 'resolved',
    (e: unknown) => e,
  );
  await reached;
  await cache.close();
  assert.ok(isOcifsError(await outcome, 'ERR_OCIFS_CACHE_CLOSED'), String(await outcome));
});

test('fill of a cold blob is one stream; progress rises to the size; verified', async () => {
  const { data, up, cache, src } = await setup(20 * MiB + 7);
  const seen: number[] = [];
  await src.fill({ onProgress: (p) => seen.push(p) });
  assert.deepEqual(up.streams, [{ offset: 0, length: data.byteLength }]);
  assert.equal(up.reads, 0);
  assert.equal(seen.at(-1), data.byteLength);
  assert.ok(seen.every((v, i) => i === 0 || v >= seen[i - 1]));
  const [entry] = await cache.list();
  assert.equal(entry.verified, true);
  eq(await src.read(0, data.byteLength), data);
  await cache.close();
});

test('a low-priority fill does not hold back a read of bytes its stream has not reached', async () => {
  const { data, up, cache, src } = await setup(24 * MiB);
  let filling!: Promise<void>;
  const release = await holdAt(up, 2 * MiB, () => (filling = src.fill({ priority: 'low' })));
  eq(await src.read(20 * MiB, 64 * KiB), data.subarray(20 * MiB, 20 * MiB + 64 * KiB));
  release();
  await filling;
  eq(await src.read(0, data.byteLength), data);
  await cache.close();
});
