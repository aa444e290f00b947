/**
 * Fetching a long run of missing chunks as one upstream stream (a {@link StreamableSource}):
 * the network chunks go to the consumer as they arrive and, grouped in batches of whole claim
 * blocks, to the data file (one writev each), to the hash and to readers waiting in this
 * process — instead of one Range request and one gathered buffer per few MiB.
 *
 * The cache's rules hold as for ordinary fetches:
 * - a chunk is written only by the holder of its claim block, only while it is missing, and
 *   marked present only after the group commit that flushed it (`ChunkStore.write`);
 * - reads in this process join the stream: the batch arriving and the next one are
 *   {@link FetchTask}s in `inflight` (only those: a reader wanting bytes far ahead fetches them
 *   itself rather than wait for the stream to get there);
 * - claims are taken a window ahead; a batch another process has claimed ends the stream at
 *   its start, so the caller waits for that process's bytes instead of downloading them again;
 * - bytes are offered to the hash, in order, after they were written.
 *
 * @packageDocumentation
 */
import { debuglog } from '../io/debug-log.js';
import { UpstreamShortReadError } from './errors.js';
import { FetchTask, type Piece } from './fetch-task.js';
import type { PrefixHasher } from './prefix-hasher.js';
import type { Job } from './scheduler.js';
import type { ChunkStore, WriteResult } from './store.js';
import type { ChunkSink, StreamableSource } from './streaming.js';

const debug = debuglog('ocifs:cache');

/** Bytes per batch (whole claim blocks): one write, one hash message, one in-flight task. */
export const STREAM_BATCH_BYTES = 4 * 1024 * 1024;
/** Claims are taken this far ahead of the bytes arriving. */
export const STREAM_CLAIM_AHEAD_BYTES = 32 * 1024 * 1024;
/** Most received bytes waiting to be written; the stream pauses beyond (bounds memory). */
export const STREAM_MAX_QUEUED_BYTES = 32 * 1024 * 1024;
/** Batches registered as in-flight tasks beyond the one arriving. */
const TASKS_AHEAD = 1;

/** What the streaming fetch needs from its {@link CachedSource}. */
export interface StreamHost {
  readonly digest: string;
  readonly size: number;
  /** Whether written bytes are hashed for verification. */
  readonly verify: boolean;
  /** Chunk → the task fetching it in this process. */
  readonly inflight: Map<number, FetchTask>;
  /** Writes whole chunks from `c0`; null when not cached (full disk, retired store). */
  storeBytes(store: ChunkStore, c0: number, parts: readonly Uint8Array[]): Promise<WriteResult | null>;
  /** Re-reads other processes' marks for chunks `[c0, c1)` (a damaged map resets the store). */
  refresh(store: ChunkStore, c0: number, c1: number): Promise<void>;
  hasherFor(store: ChunkStore): PrefixHasher;
  /** Counts chunks handed to readers but not written yet. */
  addWriting(delta: number): void;
  /** Removes a task from `inflight` and settles it. */
  dropTask(task: FetchTask, pieces: Piece[]): void;
}

/** One streamed run. */
export interface StreamRunParams {
  store: ChunkStore;
  upstream: StreamableSource;
  /** The chunks fetched, `[c0, c1)` (the last one cut at the blob's end). */
  c0: number;
  c1: number;
  /** The bytes of those handed to `sink`, `[from, to)`. */
  from: number;
  to: number;
  sink?: ChunkSink;
  /** Priority given to the in-flight tasks readers join. */
  priority: number;
  signal: AbortSignal;
  /** Called after each batch is written. */
  onProgress?: () => void;
}

interface Batch {
  c0: number;
  c1: number;
  start: number;
  end: number;
  /** The batch's bytes (a pooled buffer, given back once written and hashed). */
  buf: Uint8Array | undefined;
  received: number;
  tasks: FetchTask[];
  registered: boolean;
  entered: boolean;
  /** Claim blocks held for this batch (to release). */
  held: number[];
  /** True when every block this batch wants to write is ours. */
  claims: Promise<boolean>;
  /** Settles when the batch's write is done (or was never needed). */
  written?: Promise<void>;
}

/**
 * Thrown through the upstream to end a stream early at `at`: a batch claimed by another process,
 * or one whose chunks are all present already.
 */
class StopStream extends Error {
  constructor(readonly at: number) {
    super('stream stopped');
  }
}

/**
 * Streams chunks `[c0, c1)` from the upstream into the store and `[from, to)` into `sink`.
 * Resolves with the offset up to which `sink` got its bytes: `to`, or less when the stream
 * stopped at a batch another process has claimed (the caller goes on from there another way).
 * Rejects with the upstream's or the sink's error; bytes received until then are kept.
 */
export async function streamRun(host: StreamHost, p: StreamRunParams): Promise<number> {
  const { store } = p;
  const cs = store.chunkSize;
  const claims = store.claims;
  const bc = claims?.blockChunks ?? 1;
  const batchChunks = Math.max(bc, Math.floor(STREAM_BATCH_BYTES / cs / bc) * bc);
  const startByte = p.c0 * cs;
  const endByte = Math.min(host.size, p.c1 * cs);
  const batches: Batch[] = [];
  let nextC = p.c0;
  let pos = startByte;
  let cur = 0;
  const queue: { written: Promise<void>; bytes: number }[] = [];
  let queuedBytes = 0;
  let hashing: Promise<void> = Promise.resolve();
  /** Batch buffers free for reuse. */
  const pool: Uint8Array[] = [];

  const makeBatch = (): void => {
    const s = nextC;
    const e = Math.min(p.c1, (Math.floor(s / batchChunks) + 1) * batchChunks);
    nextC = e;
    const b: Batch = { c0: s, c1: e, start: s * cs, end: Math.min(host.size, e * cs), buf: undefined, received: 0, tasks: [], registered: false, entered: false, held: [], claims: Promise.resolve(true) };
    // Claim the blocks holding chunks that may need writing (missing, not fetched by a task here).
    const wanted = new Set<number>();
    for (let c = s; c < e; c++) if (!store.has(c) && !host.inflight.has(c)) wanted.add(Math.floor(c / bc));
    if (claims && wanted.size > 0) {
      b.claims = (async () => {
        let all = true;
        for (const block of wanted) {
          if (await claims.acquire(block)) b.held.push(block);
          else all = false;
        }
        // Claimed now; another process may have finished some of these chunks just before.
        if (all) await host.refresh(store, s, e);
        return all;
      })();
    }
    batches.push(b);
  };

  const register = (b: Batch): void => {
    b.registered = true;
    for (let c = b.c0; c < b.c1; c++) {
      if (store.has(c) || host.inflight.has(c)) continue;
      let e = c;
      while (e < b.c1 && !store.has(e) && !host.inflight.has(e)) e++;
      const t = new FetchTask(c, e, p.priority, async () => {});
      t.state = 'running';
      for (let k = c; k < e; k++) host.inflight.set(k, t);
      b.tasks.push(t);
      c = e - 1;
    }
  };

  const allPresent = (b: Batch): boolean => {
    for (let c = b.c0; c < b.c1; c++) if (!store.has(c)) return false;
    return true;
  };

  /** Before the first byte of batch `k`: claims ahead, tasks ahead, and batch `k` must be ours. */
  const enter = async (k: number): Promise<void> => {
    while (nextC < p.c1 && nextC * cs < pos + STREAM_CLAIM_AHEAD_BYTES) makeBatch();
    for (let i = k; i <= k + TASKS_AHEAD && i < batches.length; i++) if (!batches[i].registered) register(batches[i]);
    const b = batches[k];
    b.entered = true;
    // Every chunk of this batch arrived meanwhile (readers ahead of the stream fetched them):
    // end the request here rather than download them again; the caller goes on from here,
    // skipping what is present.
    if (k > 0 && allPresent(b)) throw new StopStream(b.start);
    if (!(await b.claims)) throw new StopStream(b.start);
  };

  /** Writes the batch's chunks that are ours to write; returns what to offer to the hash. */
  const writeBatch = async (b: Batch, buf: Uint8Array): Promise<{ offset: number; bytes: Uint8Array }[]> => {
    const durables: Promise<boolean>[] = [];
    const offers: { offset: number; bytes: Uint8Array }[] = [];
    try {
      const held = new Set(b.held);
      const writable = (c: number) => held.has(Math.floor(c / bc)) && !store.has(c);
      const runs: [number, number][] = [];
      for (const t of b.tasks) {
        for (let c = t.c0; c < t.c1; c++) {
          if (!writable(c)) continue;
          let e = c;
          while (e < t.c1 && writable(e)) e++;
          runs.push([c, e]);
          c = e - 1;
        }
      }
      const results = await Promise.all(
        runs.map(async ([c, e]) => {
          const bytes = buf.subarray(c * cs - b.start, Math.min(host.size, e * cs) - b.start);
          return { offset: c * cs, bytes, w: await host.storeBytes(store, c, [bytes]) };
        }),
      );
      for (const { offset, bytes, w } of results) {
        if (!w) continue;
        durables.push(w.durable);
        if (w.all && host.verify) offers.push({ offset, bytes });
      }
    } catch (err) {
      debug('%s: caching streamed bytes at %d failed: %s', host.digest, b.start, (err as Error).message);
    } finally {
      for (const t of b.tasks) {
        host.addWriting(-(t.c1 - t.c0));
        host.dropTask(t, []);
      }
      // Nothing of a written batch may keep its bytes alive (the run's batch list lives on).
      b.tasks = [];
      releaseAfter(b, durables);
      p.onProgress?.();
    }
    return offers;
  };

  /** Claims stay until the chunks' marks are on disk: other processes trust only the map. */
  const releaseAfter = (b: Batch, durables: Promise<boolean>[]): void => {
    const held = b.held;
    b.held = [];
    if (claims && held.length > 0) void Promise.all(durables).finally(() => Promise.all(held.map((blk) => claims.release(blk))));
  };

  const finishBatch = (b: Batch): void => {
    const buf = b.buf!;
    b.buf = undefined;
    for (const t of b.tasks) {
      const from = t.c0 * cs - b.start;
      const to = Math.min(host.size, t.c1 * cs) - b.start;
      // A copy: the batch buffer is used again once written and hashed.
      t.finish(() => [{ offset: t.c0 * cs, bytes: buf.slice(from, to) }]);
      host.addWriting(t.c1 - t.c0);
    }
    const bytes = b.end - b.start;
    // Batches are written concurrently; their bytes reach the hash in order, once written.
    const writes = writeBatch(b, buf);
    hashing = hashing.then(async () => {
      for (const o of await writes) {
        try {
          await host.hasherFor(store).offerParts(o.offset, [o.bytes]);
        } catch (err) {
          debug('%s: hashing streamed bytes: %s', host.digest, (err as Error).message);
        }
      }
      pool.push(buf);
    });
    b.written = hashing;
    queue.push({ written: hashing, bytes });
    queuedBytes += bytes;
  };

  const deliver = async (part: Uint8Array, at: number): Promise<void> => {
    if (!p.sink) return;
    const s = Math.max(at, p.from);
    const e = Math.min(at + part.byteLength, p.to);
    if (s >= e) return;
    const r = p.sink(s === at && e === at + part.byteLength ? part : part.subarray(s - at, e - at));
    if (r) await r;
  };

  const onChunk = async (chunk: Uint8Array): Promise<void> => {
    let off = 0;
    while (off < chunk.byteLength) {
      if (cur >= batches.length) makeBatch();
      const b = batches[cur];
      if (!b.entered) await enter(cur);
      const n = Math.min(chunk.byteLength - off, b.end - b.start - b.received);
      const part = n === chunk.byteLength ? chunk : chunk.subarray(off, off + n);
      await deliver(part, pos);
      // Copied into the batch's pooled buffer: network chunks die young (kept until written,
      // they were promoted and every few MiB cost a full mark-compact).
      b.buf ??= pool.pop() ?? new Uint8Array(batchChunks * cs);
      b.buf.set(part, b.received);
      b.received += n;
      pos += n;
      off += n;
      if (b.received === b.end - b.start) {
        finishBatch(b);
        cur++;
      }
    }
    while (queuedBytes > STREAM_MAX_QUEUED_BYTES && queue.length > 0) {
      const q = queue.shift()!;
      await q.written;
      queuedBytes -= q.bytes;
    }
  };

  let stoppedAt: number | undefined;
  let failure: unknown;
  try {
    await enter(0);
    await p.upstream.streamRange(startByte, endByte - startByte, onChunk, { signal: p.signal });
    if (pos !== endByte) throw new UpstreamShortReadError(host.digest, startByte, endByte - startByte, pos - startByte);
  } catch (err) {
    if (err instanceof StopStream) stoppedAt = err.at;
    else failure = err;
  }
  // Batches not received whole: their readers re-plan, their claims go.
  for (const b of batches) {
    if (b.written) continue;
    for (const t of b.tasks) host.dropTask(t, []);
    b.written = b.claims.then(
      () => releaseAfter(b, []),
      () => {},
    );
  }
  await Promise.all(batches.map((b) => b.written));
  if (failure !== undefined) throw failure;
  if (stoppedAt !== undefined) return Math.max(p.from, Math.min(p.to, stoppedAt));
  return p.to;
}

/** A streamed run as a job of the source's scheduler: it holds one request slot while it runs. */
export class StreamJob implements Job {
  state: 'queued' | 'running' | 'done' = 'queued';
  /** Settles with the run's result once it ran (or with the reason it was cancelled). */
  readonly promise: Promise<number>;
  private resolveFn!: (n: number) => void;
  private rejectFn!: (e: unknown) => void;

  constructor(
    public priority: number,
    private readonly body: () => Promise<number>,
  ) {
    this.promise = new Promise<number>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    this.promise.catch(() => {});
  }

  run(): Promise<void> {
    return this.body().then(this.resolveFn, this.rejectFn);
  }

  /** Rejects a job that was taken off the queue before it ran. */
  cancel(reason: unknown): void {
    this.rejectFn(reason);
  }
}
