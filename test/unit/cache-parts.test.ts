// The collaborators a CachedSource coordinates, each on its own over real stores (an on-disk
// instance in a private cache directory, or the memory store): the store slot, the verifier,
// the chunk writer, the in-flight table, the derived-data mark, span files, the extra-bytes
// sink, the fetcher and a streamed run. The source as a whole is tested in cache-source,
// cache-stream, cache-claims, cache-origins and the integration tests.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, rename, rm } from 'node:fs/promises';
import { fstatSync, readSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobCache } from '../../src/cache/index.js';
import { ChunkReader } from '../../src/cache/chunk-reader.js';
import { ChunkWriter } from '../../src/cache/chunk-writer.js';
import { ClaimSet } from '../../src/cache/claims.js';
import { DerivedMark } from '../../src/cache/derived-mark.js';
import { digestOf, parseDigest } from '../../src/ref/digest.js';
import { openDiskStore } from '../../src/cache/disk-open.js';
import { DiskStore } from '../../src/cache/disk-store.js';
import { ExtraBytes } from '../../src/cache/extra-sink.js';
import { FetchTask, InflightTable } from '../../src/cache/fetch-task.js';
import { Fetcher } from '../../src/cache/fetcher.js';
import { CacheLayout } from '../../src/cache/layout.js';
import { MAP_HEADER_SIZE } from '../../src/cache/map-format.js';
import { MemoryPool, MemoryStore } from '../../src/cache/memory-store.js';
import { resolveSourceOptions, type BlobSourceOptions } from '../../src/cache/options.js';
import { RangeStreamer } from '../../src/cache/range-stream.js';
import { PRIORITY_USER } from '../../src/cache/scheduler.js';
import type { SourceParts } from '../../src/cache/source-parts.js';
import { SpanFiles } from '../../src/cache/span-files.js';
import { StoreSlot, type StoreOpener } from '../../src/cache/store-slot.js';
import type { ChunkStore } from '../../src/cache/store.js';
import { StreamRun } from '../../src/cache/stream-fetch.js';
import { Verifier } from '../../src/cache/verifier.js';
import { isOcifsError } from '../../src/errors.js';
import type { ByteSource } from '../../src/io/byte-source.js';
import { IoStats } from '../../src/io/io-stats.js';
import { MemorySource } from '../../src/io/index.js';
import { CountingSource, ShortSource, patternBytes } from '../helpers/cache-sources.js';
import { StreamingSource } from '../helpers/stream-sources.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const CS = 64 * KiB;
const root = await mkdtemp(join(tmpdir(), 'ocifs-cache-parts-'));
after(() => rm(root, { recursive: true, force: true }));
let n = 0;

function eq(a: Uint8Array, b: Uint8Array, msg?: string) {
  assert.ok(Buffer.from(a).equals(Buffer.from(b)), msg ?? 'bytes differ');
}

/** An opener of `data`'s on-disk instance in a fresh cache directory. */
async function diskOpener(data: Uint8Array, verify = true, digest = digestOf(data)): Promise<StoreOpener> {
  const dir = join(root, `c${n++}`);
  await (await BlobCache.open(dir)).close();
  const layout = new CacheLayout(dir);
  const d = parseDigest(digest);
  return (chunkSize, adopt) =>
    openDiskStore({
      layout,
      digest: d,
      origin: '',
      size: data.length,
      chunkSize,
      adoptChunkSize: adopt,
      claimStaleMs: 10_000,
      verify,
    });
}

/** The parts of one source over `data` (stored by `opener`), wired like CachedSource wires them. */
function makeParts(data: Uint8Array, opener: StoreOpener, options: BlobSourceOptions = {}, digest = digestOf(data)) {
  const d = parseDigest(digest);
  const opts = resolveSourceOptions({ readahead: false, ...options });
  const mark = new DerivedMark(d.value);
  const events = { detached: 0, completed: 0, verified: 0 };
  // onDetach may run before the assignment: it must find the variable declared (no TDZ error).
  // eslint-disable-next-line prefer-const -- see above
  let verifier!: Verifier;
  const slot = new StoreSlot({
    digest: d.value,
    size: data.length,
    chunkSize: CS,
    openStore: opener,
    mark,
    onDetach: () => {
      events.detached++;
      verifier.forget();
    },
  });
  verifier = new Verifier({
    digest: d,
    verify: opts.verify,
    slot,
    mark,
    onComplete: () => events.completed++,
    onVerified: async () => {
      events.verified++;
    },
  });
  const writer = new ChunkWriter(d.value, mark, verifier);
  const parts: SourceParts = {
    digest: d.value,
    size: data.length,
    slot,
    inflight: new InflightTable(),
    writer,
    verifier,
  };
  return { parts, slot, verifier, writer, mark, events, opts, inflight: parts.inflight };
}

/** Writes `data`'s chunks [c0, c1) through the writer (hashed as written) and waits for their marks. */
async function writeChunks(
  writer: ChunkWriter,
  store: ChunkStore,
  data: Uint8Array,
  c0: number,
  c1: number,
  bytes = data,
) {
  const w = await writer.writeAndHash(store, c0 * CS, bytes.subarray(c0 * CS, Math.min(data.length, c1 * CS)));
  assert.ok(w, 'stored');
  assert.equal(await w.durable, true);
}

/** The slot's store, which these tests open on disk. */
async function diskStoreOf(slot: StoreSlot): Promise<DiskStore> {
  const store = await slot.get();
  assert.ok(store instanceof DiskStore);
  return store;
}

test('store slot: the first store fixes the chunk size, later ones are opened with it', async () => {
  const calls: [number, boolean][] = [];
  const pool = new MemoryPool(16 * MiB);
  const opener: StoreOpener = async (cs, adopt) => {
    calls.push([cs, adopt]);
    // The first "instance" has its own chunk size (as an existing disk instance may).
    return new MemoryStore(pool, 1 * MiB, calls.length === 1 ? 128 * KiB : cs);
  };
  const { slot, mark, events } = makeParts(new Uint8Array(1 * MiB), opener);
  const first = await slot.get();
  assert.equal(slot.chunkSize, 128 * KiB);
  assert.equal(await slot.get(), first, 'the same store until it is dropped');
  const m = mark.current();
  slot.reset(first);
  assert.notEqual(mark.current(), m, 'dropping the current store moves the mark');
  assert.equal(events.detached, 1);
  assert.equal(slot.current, null);
  const second = await slot.get();
  assert.notEqual(second, first);
  assert.deepEqual(calls, [
    [CS, true],
    [128 * KiB, false],
  ]);
  // Dropping a store that is not the current one only retires it.
  const m2 = mark.current();
  slot.reset(first);
  assert.equal(mark.current(), m2);
  assert.equal(events.detached, 1);
  assert.equal(slot.current, second);
});

test('store slot: no space for an instance serves through a memory store that keeps nothing', async () => {
  const opener: StoreOpener = async () => {
    throw Object.assign(new Error('no space'), { code: 'ENOSPC' });
  };
  const { slot } = makeParts(new Uint8Array(256 * KiB), opener);
  const store = await slot.get();
  assert.equal(store.kind, 'memory');
  assert.equal(await store.write(0, new Uint8Array(CS)), null, 'nothing is cached');
  // Another error is not swallowed.
  const failing = makeParts(new Uint8Array(256 * KiB), async () => {
    throw new Error('boom');
  });
  await assert.rejects(failing.slot.get(), /boom/);
});

test('store slot: a damaged map found by refresh discards the instance and drops it', async () => {
  const data = patternBytes(8 * CS, 1);
  const { slot, writer, mark } = makeParts(data, await diskOpener(data));
  const store = await diskStoreOf(slot);
  await writeChunks(writer, store, data, 0, 2);
  const fh = await open(join(store.path, 'map'), 'r+');
  await fh.write(Uint8Array.of(0x33), 0, 1, MAP_HEADER_SIZE + 5);
  await fh.close();
  const m = mark.current();
  await slot.refresh(store, 0, store.chunkCount);
  assert.equal(slot.current, null, 'dropped');
  assert.notEqual(mark.current(), m);
  const fresh = await slot.get();
  assert.equal(fresh.presentCount, 0, 'a new instance');
  await slot.close();
});

test('store slot: an evicted instance is noticed and dropped; closing keeps completeness and refuses new stores', async () => {
  const data = patternBytes(4 * CS, 2);
  const { slot, writer, verifier } = makeParts(data, await diskOpener(data));
  let store = await diskStoreOf(slot);
  assert.equal(await slot.stillCurrent(store), true);
  await rename(store.path, join(root, `evicted-${n++}`));
  // Checked at most once a second.
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal(await slot.stillCurrent(store), false);
  assert.equal(slot.current, null);
  store = await diskStoreOf(slot);
  await writeChunks(writer, store, data, 0, 4);
  await verifier.completeOnce();
  assert.equal(slot.complete, true);
  await slot.close();
  assert.equal(slot.closed, true);
  assert.equal(slot.complete, true, 'still known complete after close');
  await assert.rejects(slot.get(), (e) => isOcifsError(e, 'ERR_OCIFS_CACHE_CLOSED'));
});

test('verifier: the complete blob is hashed once, recorded verified and promoted', async () => {
  const data = patternBytes(10 * CS + 123, 3);
  const { slot, writer, verifier, events } = makeParts(data, await diskOpener(data));
  const store = await diskStoreOf(slot);
  assert.equal(store.place, 'partial');
  await writeChunks(writer, store, data, 0, 6);
  await verifier.completeOnce();
  assert.equal(store.complete, false, 'not all there yet: nothing happens');
  await writeChunks(writer, store, data, 6, 11);
  await Promise.all([verifier.completeOnce(), verifier.completeOnce()]);
  assert.equal(store.complete, true);
  assert.equal(store.verified, true);
  assert.equal(store.place, 'verified', 'moved where every origin finds it');
  assert.deepEqual([events.completed, events.verified], [1, 1], 'one run for concurrent callers');
  await slot.close();
});

test('verifier: a mismatch discards the instance, moves the mark and rejects reads that overlapped it', async () => {
  const data = patternBytes(6 * CS, 4);
  const bad = Uint8Array.prototype.slice.call(data);
  bad[3 * CS + 7] ^= 1;
  const { slot, writer, verifier, mark, events } = makeParts(data, await diskOpener(data));
  const store = await diskStoreOf(slot);
  const seq = verifier.seq;
  const m = mark.current();
  await writeChunks(writer, store, data, 0, 6, bad);
  await assert.rejects(verifier.completeOnce(), (e) => isOcifsError(e, 'ERR_OCIFS_DIGEST_MISMATCH'));
  assert.equal(slot.current, null, 'dropped');
  assert.notEqual(mark.current(), m);
  assert.equal(events.detached, 1);
  assert.equal(events.completed, 0);
  assert.throws(
    () => verifier.throwIfMismatchSince(seq),
    (e) => isOcifsError(e, 'ERR_OCIFS_DIGEST_MISMATCH'),
  );
  verifier.throwIfMismatchSince(verifier.seq); // a read that started after it is not concerned
  const fresh = await slot.get();
  assert.equal(fresh.presentCount, 0, 'the bad bytes are gone');
  await slot.close();
});

test('verifier: in memory a blob read to its end is checked then; without verification a complete blob is just complete', async () => {
  const data = patternBytes(5 * CS, 5);
  const bad = Uint8Array.prototype.slice.call(data);
  bad[7] ^= 1;
  const pool = new MemoryPool(16 * MiB);
  const mem = makeParts(data, async (cs) => new MemoryStore(pool, data.length, cs));
  const store = await mem.slot.get();
  await writeChunks(mem.writer, store, data, 0, 5, bad);
  await assert.rejects(mem.verifier.afterWrite(store), (e) => isOcifsError(e, 'ERR_OCIFS_DIGEST_MISMATCH'));
  assert.equal(mem.slot.current, null);
  const good = await mem.slot.get();
  await writeChunks(mem.writer, good, data, 0, 5);
  await mem.verifier.afterWrite(good);

  const off = makeParts(data, await diskOpener(data, false), { verify: false });
  const disk = await off.slot.get();
  await writeChunks(off.writer, disk, data, 0, 5, bad);
  await off.verifier.completeOnce();
  assert.equal(disk.complete, true, 'not hashed: complete as it is');
  assert.equal(off.events.verified, 0);
  await off.slot.close();
});

test('chunk writer: bytes not stored are counted and move the mark; writes handed out are waited for', async () => {
  const data = patternBytes(4 * CS, 6);
  const { slot, writer, mark } = makeParts(data, await diskOpener(data));
  const store = await slot.get();
  const m = mark.current();
  await assert.rejects(writer.write(store, 0.5, data.subarray(0, CS)), /unaligned write/);
  store.retire(); // a retired store takes no more writes
  assert.equal(await writer.write(store, 0, data.subarray(0, 2 * CS)), null);
  assert.equal(writer.uncachedBytes, 2 * CS);
  assert.notEqual(mark.current(), m, 'bytes served but not stored: derived data may not be kept');

  writer.handedOut(3);
  let done = false;
  const waiting = writer.writesDone().then(() => (done = true));
  writer.settled(2);
  await new Promise((r) => setImmediate(r));
  assert.equal(done, false, 'one chunk still pending');
  assert.equal(writer.pendingChunks, 1);
  writer.settled(1, false);
  await new Promise((r) => setImmediate(r));
  assert.equal(done, false, 'not woken when asked not to');
  writer.wake();
  await waiting;
  assert.equal(done, true);
  await slot.close();
});

test('in-flight table: a task is removed only where it is still registered', async () => {
  const table = new InflightTable();
  const a = new FetchTask(0, 4, PRIORITY_USER, async () => {});
  const b = new FetchTask(2, 3, PRIORITY_USER, async () => {});
  table.add(a);
  table.add(b); // chunk 2 is b's now
  assert.equal(table.get(1), a);
  assert.equal(table.get(2), b);
  table.drop(a, []);
  assert.equal(table.has(0), false);
  assert.equal(table.has(3), false);
  assert.equal(table.get(2), b, "b's chunk stays");
  assert.deepEqual([...table.tasks()], [b]);
  const err = new Error('x');
  table.fail(b, err);
  assert.equal(table.has(2), false);
  await assert.rejects(b.promise, (e) => e === err);
});

test('derived mark: a sidecar is kept only when no change came since its mark', async () => {
  const data = patternBytes(2 * CS, 7);
  const { slot, mark } = makeParts(data, await diskOpener(data));
  const store = await slot.get();
  const early = mark.current();
  assert.equal(await mark.keep(store, 'idx', Uint8Array.of(1, 2), early), true);
  eq((await store.getSidecar('idx'))!, Uint8Array.of(1, 2));
  mark.invalidate();
  assert.equal(await mark.keep(store, 'late', Uint8Array.of(3), early), false);
  assert.equal(await store.getSidecar('late'), undefined, 'nothing stored');
  assert.equal(await mark.keep(null, 'none', Uint8Array.of(3), mark.current()), false, 'no store');
  await slot.close();
});

test('span files: verified and unverified spans name the data file, count as hits, end with the source', async () => {
  const data = patternBytes(6 * CS, 8);
  const stats = new IoStats();
  const { slot, writer, verifier } = makeParts(data, await diskOpener(data), { stats });
  const spans = new SpanFiles(slot, true, stats);
  const store = await diskStoreOf(slot);
  await writeChunks(writer, store, data, 1, 3);
  assert.equal(await spans.verified(0, 10), undefined, 'not verified yet');
  const partial = await spans.unverified(CS + 5, 2 * CS - 5);
  assert.ok(partial && partial.length === 1, 'chunks 1..2 are present');
  const buf = Buffer.alloc(partial[0].length);
  readSync(partial[0].fd, buf, 0, buf.length, partial[0].position);
  eq(buf, data.subarray(CS + 5, 3 * CS));
  const st = fstatSync(partial[0].fd, { bigint: true });
  assert.equal(partial[0].fileId, `${st.dev}:${st.ino}`);
  assert.equal(await spans.unverified(2 * CS, 2 * CS), undefined, 'chunk 3 is missing');
  assert.equal(await spans.unverified(0, CS), undefined, 'chunk 0 is missing');
  assert.equal(stats.cacheHitBytes, 2 * CS - 5);
  await writeChunks(writer, store, data, 0, 1);
  await writeChunks(writer, store, data, 3, 6);
  await verifier.completeOnce();
  const whole = await spans.verified(100, 4 * CS);
  assert.ok(whole && whole.length === 1);
  const b2 = Buffer.alloc(whole[0].length);
  readSync(whole[0].fd, b2, 0, b2.length, whole[0].position);
  eq(b2, data.subarray(100, 100 + 4 * CS));
  assert.deepEqual(await spans.verified(5, 0), [], 'an empty range is no span');
  const file = await spans.openVerifiedFile();
  assert.ok(file);
  await file.close();
  await slot.close();
  assert.equal(await spans.verified(0, 10), undefined, 'none once the source closed');
  await spans.close();
});

test('extra bytes: chunks fully covered are kept (joined across calls), running downloads are left alone', async () => {
  const data = patternBytes(8 * CS + 1000, 9);
  const { parts, slot } = makeParts(data, await diskOpener(data));
  const extra = new ExtraBytes(parts);
  const store = await slot.get();
  // Chunk 0 whole, chunk 1 split over two calls, chunk 2 only started.
  await extra.store(0, data.subarray(0, CS + 100));
  assert.deepEqual(
    [0, 1, 2].map((c) => store.has(c)),
    [true, false, false],
  );
  await extra.store(CS + 100, data.subarray(CS + 100, 2 * CS + 10));
  assert.deepEqual(
    [0, 1, 2].map((c) => store.has(c)),
    [true, true, false],
    'the kept start of chunk 1 joined its rest',
  );
  // A gap drops what was kept: chunk 2's start cannot join bytes from elsewhere.
  await extra.store(3 * CS + 1, data.subarray(3 * CS + 1, 4 * CS));
  assert.equal(store.has(2), false);
  assert.equal(store.has(3), false, 'not covered from its start');
  // A chunk a running task fetches is its own; the blob's short last chunk is kept whole.
  const running = new FetchTask(5, 6, PRIORITY_USER, async () => {});
  running.state = 'running';
  parts.inflight.add(running);
  await extra.store(4 * CS, data.subarray(4 * CS));
  assert.deepEqual(
    [4, 5, 6, 7, 8].map((c) => store.has(c)),
    [true, false, true, true, true],
  );
  await store.flush();
  const out = new Uint8Array(data.length - 6 * CS);
  await store.read(6 * CS, out.length, out, 0);
  eq(out, data.subarray(6 * CS));
  await slot.close();
});

test('fetcher: missing runs are coalesced and joined; a short upstream read fails the task', async () => {
  const data = patternBytes(40 * CS, 10);
  const up = new CountingSource(new MemorySource(data));
  const { parts, slot, opts } = makeParts(data, await diskOpener(data), { maxRequestBytes: 1 * MiB, parallelism: 1 });
  const fetcher = new Fetcher(parts, up, opts, new DerivedMark(parts.digest));
  const store = await slot.get();
  const t1 = fetcher.ensure(store, 0, 40, PRIORITY_USER);
  const t2 = fetcher.ensure(store, 10, 12, PRIORITY_USER);
  assert.ok(
    t2.every((t) => t1.includes(t)),
    'a second read joins the tasks under way',
  );
  const pieces = await fetcher.waitTasks(t1, undefined);
  assert.equal(
    pieces.reduce((s, p) => s + p.bytes.byteLength, 0),
    data.length,
  );
  assert.deepEqual(
    up.log.map((r) => r.length / CS),
    [14, 14, 12],
    'three requests of at most 1 MiB, cut evenly',
  );
  await parts.writer.writesDone();
  await store.flush();
  assert.deepEqual(fetcher.ensure(store, 0, 40, PRIORITY_USER), [], 'nothing missing');
  await slot.close();

  const short = makeParts(data, await diskOpener(data));
  const f2 = new Fetcher(
    short.parts,
    new ShortSource(new MemorySource(data)),
    short.opts,
    new DerivedMark(short.parts.digest),
  );
  const s2 = await short.slot.get();
  await assert.rejects(f2.waitTasks(f2.ensure(s2, 0, 2, PRIORITY_USER), undefined), (e) =>
    isOcifsError(e, 'ERR_OCIFS_SHORT_READ'),
  );
  assert.equal(short.inflight.has(0), false, 'the failed task is gone');
  f2.shutdown(new Error('closing'));
  await short.slot.close();
});

test('fetcher: shutdown cancels queued tasks and aborts running ones', async () => {
  const data = patternBytes(8 * CS, 11);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slowUp: ByteSource = {
    size: data.length,
    read: async (offset, length, options) => {
      await Promise.race([
        gate,
        new Promise((_, reject) => options?.signal?.addEventListener('abort', () => reject(options.signal!.reason))),
      ]);
      return data.subarray(offset, offset + length);
    },
  };
  const { parts, slot, opts } = makeParts(data, await diskOpener(data), { parallelism: 1 });
  const fetcher = new Fetcher(parts, slowUp, opts, new DerivedMark(parts.digest));
  const store = await slot.get();
  const running = fetcher.ensure(store, 0, 1, PRIORITY_USER);
  const queued = fetcher.ensure(store, 4, 5, PRIORITY_USER);
  const reason = new Error('source closed');
  await new Promise((r) => setTimeout(r, 20));
  await slot.close();
  fetcher.shutdown(reason);
  await assert.rejects(running[0].promise, (e) => e === reason);
  assert.deepEqual(await queued[0].promise, [], 'a queued task settles empty (its readers re-plan)');
  assert.equal(queued[0].state, 'done');
  release();
});

test('streamed run: bytes reach the sink and the store, readers here can join, a batch claimed elsewhere ends it', async () => {
  const data = patternBytes(12 * MiB + 5, 12);
  const up = new StreamingSource(new MemorySource(data));
  const { parts, slot } = makeParts(data, await diskOpener(data));
  const store = await diskStoreOf(slot);
  const got: Uint8Array[] = [];
  let joined = false;
  const run = new StreamRun(parts, {
    store,
    upstream: up,
    c0: 0,
    c1: store.chunkCount,
    from: 100,
    to: data.length - 100,
    priority: PRIORITY_USER,
    signal: new AbortController().signal,
    sink: (chunk) => {
      got.push(Uint8Array.prototype.slice.call(chunk));
      // While the stream runs, the batch arriving is a task readers here join.
      joined ||= parts.inflight.has(store.chunkCount - 1) || parts.inflight.has(Math.floor((6 * MiB) / CS));
    },
  });
  assert.equal(await run.run(), data.length - 100);
  eq(Buffer.concat(got), data.subarray(100, data.length - 100));
  assert.ok(joined, 'in-flight tasks were registered ahead of the bytes');
  await parts.writer.writesDone();
  await store.flush();
  assert.equal(store.presentCount, store.chunkCount);
  assert.deepEqual(up.streams, [{ offset: 0, length: data.length }], 'one upstream stream');
  await slot.close();

  // Another process holds the claim of the block at 8 MiB: the run stops there.
  const two = makeParts(data, await diskOpener(data));
  const s2 = await diskStoreOf(two.slot);
  const other = new ClaimSet(join(s2.path, 'claims'), s2.claims.blockChunks, 10_000);
  const blockAt8 = Math.floor((8 * MiB) / CS / s2.claims.blockChunks);
  assert.equal(await other.acquire(blockAt8), true);
  const run2 = new StreamRun(two.parts, {
    store: s2,
    upstream: new StreamingSource(new MemorySource(data)),
    c0: 0,
    c1: s2.chunkCount,
    from: 0,
    to: data.length,
    priority: PRIORITY_USER,
    signal: new AbortController().signal,
  });
  assert.equal(await run2.run(), 8 * MiB);
  await two.parts.writer.writesDone();
  await s2.flush();
  assert.equal(s2.has(Math.floor((8 * MiB) / CS) - 1), true);
  assert.equal(s2.has(Math.floor((8 * MiB) / CS)), false, 'not written: not ours');
  await other.releaseAll();
  await two.slot.close();
});

test('chunk reader: stored chunks, bytes of finished downloads not written yet, and fetches make one read; the last one completes the blob', async () => {
  const data = patternBytes(20 * CS + 9, 13);
  const up = new CountingSource(new MemorySource(data));
  const stats = new IoStats();
  const { parts, slot, opts, events } = makeParts(data, await diskOpener(data), { stats });
  const fetcher = new Fetcher(parts, up, opts, new DerivedMark(parts.digest));
  const reader = new ChunkReader(parts, fetcher, stats);
  const store = await slot.get();
  await writeChunks(parts.writer, store, data, 2, 4);
  // A download that finished but whose bytes are not written: its task still holds them.
  const pending = new FetchTask(5, 6, PRIORITY_USER, async () => {});
  parts.inflight.add(pending);
  pending.finish([{ offset: 5 * CS, bytes: data.subarray(5 * CS, 6 * CS) }]);
  eq(await reader.read(2 * CS + 1, 4 * CS, undefined), data.subarray(2 * CS + 1, 6 * CS + 1));
  assert.deepEqual(
    up.log,
    [
      { offset: 4 * CS, length: CS },
      { offset: 6 * CS, length: CS },
    ],
    'only chunks 4 and 6 fetched',
  );
  assert.equal(stats.cacheHitBytes, 3 * CS - 1, 'chunks 2..3 and 5 served without waiting');
  parts.inflight.drop(pending, []);
  eq(await reader.read(0, data.length, undefined), data);
  assert.equal(store.complete, true, 'the read that completed the blob waited for its verification');
  assert.equal(events.verified, 1);
  await slot.close();
});

test('range streamer: present chunks piped, a long missing run streamed, short gaps read, all in order', async () => {
  const data = patternBytes(14 * MiB + 3, 14);
  const up = new StreamingSource(new MemorySource(data));
  const stats = new IoStats();
  const { parts, slot, opts, verifier } = makeParts(data, await diskOpener(data), { stats });
  const fetcher = new Fetcher(parts, up, opts, new DerivedMark(parts.digest));
  const reader = new ChunkReader(parts, fetcher, stats);
  const streamer = new RangeStreamer(parts, fetcher, reader, true, stats);
  const store = await slot.get();
  // Present: the first MiB and chunk 20; missing: a short gap (chunks 16..19) and a long run.
  await writeChunks(parts.writer, store, data, 0, 16);
  await writeChunks(parts.writer, store, data, 20, 21);
  const got: Uint8Array[] = [];
  await streamer.stream(
    10,
    data.length,
    (c) => void got.push(Uint8Array.prototype.slice.call(c)),
    undefined,
    verifier.seq,
  );
  eq(Buffer.concat(got), data.subarray(10));
  assert.deepEqual(up.streams, [{ offset: 21 * CS, length: data.length - 21 * CS }], 'the long run is one stream');
  assert.equal(up.reads, 1, 'the short gap is one ordinary read');
  assert.equal(store.complete, true);
  await slot.close();
});
