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
import { chunkRuns, everyChunk } from './chunk-runs.js';
import type { ClaimSet } from './claims.js';
import { UpstreamShortReadError } from './errors.js';
import { FetchTask } from './fetch-task.js';
import type { Job } from './scheduler.js';
import type { SourceParts } from './source-parts.js';
import type { ChunkStore } from './store.js';
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

/** Bytes written by this process, to offer to the hash in order. */
interface Offer {
  offset: number;
  bytes: Uint8Array;
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
 * One streamed run: chunks `[c0, c1)` from the upstream into the store and `[from, to)` into
 * the sink, as batches of whole claim blocks (see the module text). {@link StreamRun.run} does it.
 */
export class StreamRun {
  private readonly store: ChunkStore;
  /** The store's claims when the run started (a promoted store gets new ones; these are released). */
  private readonly claims: ClaimSet | undefined;
  private readonly cs: number;
  /** Chunks per claim block. */
  private readonly bc: number;
  private readonly batchChunks: number;
  private readonly batches: Batch[] = [];
  /** The first chunk not in a batch yet. */
  private nextC: number;
  /** Where the next byte from the upstream goes. */
  private pos: number;
  /** The batch receiving bytes. */
  private cur = 0;
  /** Batches received whole and not written yet (bounded by {@link STREAM_MAX_QUEUED_BYTES}). */
  private readonly queue: { written: Promise<void>; bytes: number }[] = [];
  private queuedBytes = 0;
  /** Written batches reach the hash in order, one after another. */
  private hashing: Promise<void> = Promise.resolve();
  /** Batch buffers free for reuse. */
  private readonly pool: Uint8Array[] = [];

  constructor(
    private readonly parts: SourceParts,
    private readonly p: StreamRunParams,
  ) {
    this.store = p.store;
    this.claims = p.store.claims;
    this.cs = p.store.chunkSize;
    this.bc = this.claims?.blockChunks ?? 1;
    this.batchChunks = Math.max(this.bc, Math.floor(STREAM_BATCH_BYTES / this.cs / this.bc) * this.bc);
    this.nextC = p.c0;
    this.pos = p.c0 * this.cs;
  }

  /**
   * Streams the run. Resolves with the offset up to which the sink got its bytes: `to`, or less
   * when the stream stopped at a batch another process has claimed (the caller goes on from
   * there another way). Rejects with the upstream's or the sink's error; bytes received until
   * then are kept.
   */
  async run(): Promise<number> {
    const { p } = this;
    const startByte = p.c0 * this.cs;
    const endByte = Math.min(this.parts.size, p.c1 * this.cs);
    let stoppedAt: number | undefined;
    let failure: unknown;
    try {
      await this.enter(0);
      const sink = (chunk: Uint8Array) => this.onChunk(chunk);
      await p.upstream.streamRange(startByte, endByte - startByte, sink, { signal: p.signal });
      if (this.pos !== endByte) {
        throw new UpstreamShortReadError(this.parts.digest, startByte, endByte - startByte, this.pos - startByte);
      }
    } catch (err) {
      if (err instanceof StopStream) stoppedAt = err.at;
      else failure = err;
    }
    // Batches not received whole: their readers re-plan, their claims go.
    for (const b of this.batches) {
      if (b.written) continue;
      for (const t of b.tasks) this.parts.inflight.drop(t, []);
      b.written = b.claims.then(
        () => this.releaseAfter(b, []),
        () => {},
      );
    }
    await Promise.all(this.batches.map((b) => b.written!)); // every batch has one after the loop above
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- the stream's own failure, as caught above
    if (failure !== undefined) throw failure;
    if (stoppedAt !== undefined) return Math.max(p.from, Math.min(p.to, stoppedAt));
    return p.to;
  }

  private makeBatch(): void {
    const { store, cs, bc } = this;
    const { inflight, slot, size } = this.parts;
    const s = this.nextC;
    const e = Math.min(this.p.c1, (Math.floor(s / this.batchChunks) + 1) * this.batchChunks);
    this.nextC = e;
    const b: Batch = {
      c0: s,
      c1: e,
      start: s * cs,
      end: Math.min(size, e * cs),
      buf: undefined,
      received: 0,
      tasks: [],
      registered: false,
      entered: false,
      held: [],
      claims: Promise.resolve(true),
    };
    // Claim the blocks holding chunks that may need writing (missing, not fetched by a task here).
    const wanted = new Set<number>();
    for (let c = s; c < e; c++) if (!store.has(c) && !inflight.has(c)) wanted.add(Math.floor(c / bc));
    const claims = this.claims;
    if (claims && wanted.size > 0) {
      b.claims = (async () => {
        let all = true;
        for (const block of wanted) {
          if (await claims.acquire(block)) b.held.push(block);
          else all = false;
        }
        // Claimed now; another process may have finished some of these chunks just before.
        if (all) await slot.refresh(store, s, e);
        return all;
      })();
    }
    this.batches.push(b);
  }

  /** Makes the batch's missing chunks in-flight tasks, so readers here join the stream. */
  private register(b: Batch): void {
    const { store } = this;
    const { inflight } = this.parts;
    b.registered = true;
    for (const [c, e] of chunkRuns(b.c0, b.c1, (k) => !store.has(k) && !inflight.has(k))) {
      const t = new FetchTask(c, e, this.p.priority, async () => {});
      t.state = 'running';
      inflight.add(t);
      b.tasks.push(t);
    }
  }

  /** Before the first byte of batch `k`: claims ahead, tasks ahead, and batch `k` must be ours. */
  private async enter(k: number): Promise<void> {
    const { batches } = this;
    while (this.nextC < this.p.c1 && this.nextC * this.cs < this.pos + STREAM_CLAIM_AHEAD_BYTES) this.makeBatch();
    for (let i = k; i <= k + TASKS_AHEAD && i < batches.length; i++) {
      if (!batches[i].registered) this.register(batches[i]);
    }
    const b = batches[k];
    b.entered = true;
    // Every chunk of this batch arrived meanwhile (readers ahead of the stream fetched them):
    // end the request here rather than download them again; the caller goes on from here,
    // skipping what is present.
    if (k > 0 && everyChunk(b.c0, b.c1, (c) => this.store.has(c))) throw new StopStream(b.start);
    if (!(await b.claims)) throw new StopStream(b.start);
  }

  /** Writes the batch's chunks that are ours to write; returns what to offer to the hash. */
  private async writeBatch(b: Batch, buf: Uint8Array): Promise<Offer[]> {
    const { store, cs, bc } = this;
    const { writer, verifier, size } = this.parts;
    const durables: Promise<boolean>[] = [];
    const offers: Offer[] = [];
    try {
      const held = new Set(b.held);
      const writable = (c: number) => held.has(Math.floor(c / bc)) && !store.has(c);
      const runs = b.tasks.flatMap((t) => [...chunkRuns(t.c0, t.c1, writable)]);
      const results = await Promise.all(
        runs.map(async ([c, e]) => {
          const bytes = buf.subarray(c * cs - b.start, Math.min(size, e * cs) - b.start);
          return { offset: c * cs, bytes, w: await writer.write(store, c, [bytes]) };
        }),
      );
      for (const { offset, bytes, w } of results) {
        if (!w) continue;
        durables.push(w.durable);
        if (w.all && verifier.enabled) offers.push({ offset, bytes });
      }
    } catch (err) {
      debug('%s: caching streamed bytes at %d failed: %s', this.parts.digest, b.start, (err as Error).message);
    } finally {
      for (const t of b.tasks) {
        writer.settled(t.c1 - t.c0);
        this.parts.inflight.drop(t, []);
      }
      // Nothing of a written batch may keep its bytes alive (the run's batch list lives on).
      b.tasks = [];
      this.releaseAfter(b, durables);
      this.p.onProgress?.();
    }
    return offers;
  }

  /** Claims stay until the chunks' marks are on disk: other processes trust only the map. */
  private releaseAfter(b: Batch, durables: Promise<boolean>[]): void {
    const claims = this.claims;
    const held = b.held;
    b.held = [];
    if (claims && held.length > 0) {
      void Promise.all(durables).finally(() => Promise.all(held.map((blk) => claims.release(blk))));
    }
  }

  private finishBatch(b: Batch): void {
    const { cs } = this;
    const { writer, verifier, size } = this.parts;
    const buf = b.buf!;
    b.buf = undefined;
    for (const t of b.tasks) {
      const from = t.c0 * cs - b.start;
      const to = Math.min(size, t.c1 * cs) - b.start;
      // A copy: the batch buffer is used again once written and hashed.
      t.finish(() => [{ offset: t.c0 * cs, bytes: buf.slice(from, to) }]);
      writer.handedOut(t.c1 - t.c0);
    }
    const bytes = b.end - b.start;
    // Batches are written concurrently; their bytes reach the hash in order, once written.
    const writes = this.writeBatch(b, buf);
    this.hashing = this.hashing.then(async () => {
      for (const o of await writes) {
        try {
          await verifier.offerParts(this.store, o.offset, [o.bytes]);
        } catch (err) {
          debug('%s: hashing streamed bytes: %s', this.parts.digest, (err as Error).message);
        }
      }
      this.pool.push(buf);
    });
    b.written = this.hashing;
    this.queue.push({ written: this.hashing, bytes });
    this.queuedBytes += bytes;
  }

  private async deliver(part: Uint8Array, at: number): Promise<void> {
    const { sink, from, to } = this.p;
    if (!sink) return;
    const s = Math.max(at, from);
    const e = Math.min(at + part.byteLength, to);
    if (s >= e) return;
    const r = sink(s === at && e === at + part.byteLength ? part : part.subarray(s - at, e - at));
    if (r) await r;
  }

  private async onChunk(chunk: Uint8Array): Promise<void> {
    let off = 0;
    while (off < chunk.byteLength) {
      if (this.cur >= this.batches.length) this.makeBatch();
      const b = this.batches[this.cur];
      if (!b.entered) await this.enter(this.cur);
      const n = Math.min(chunk.byteLength - off, b.end - b.start - b.received);
      const part = n === chunk.byteLength ? chunk : chunk.subarray(off, off + n);
      await this.deliver(part, this.pos);
      // Copied into the batch's pooled buffer: network chunks die young (kept until written,
      // they were promoted and every few MiB cost a full mark-compact).
      b.buf ??= this.pool.pop() ?? new Uint8Array(this.batchChunks * this.cs);
      b.buf.set(part, b.received);
      b.received += n;
      this.pos += n;
      off += n;
      if (b.received === b.end - b.start) {
        this.finishBatch(b);
        this.cur++;
      }
    }
    while (this.queuedBytes > STREAM_MAX_QUEUED_BYTES && this.queue.length > 0) {
      const q = this.queue.shift()!;
      await q.written;
      this.queuedBytes -= q.bytes;
    }
  }
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
