/**
 * {@link CachedSource}: a byte source that serves a blob from a chunk store and fetches missing
 * chunks from its upstream byte source. It coordinates a few collaborators, one job each:
 *
 * - {@link StoreSlot}: the store in use, reopened when its instance goes away;
 * - {@link Fetcher}: upstream requests (coalesced runs, single-flight tasks in an
 *   {@link InflightTable}, claims shared with other processes, readahead, streamed runs);
 * - {@link ChunkWriter}: writes of fetched chunks, and the books of what is not written yet;
 * - {@link Verifier}: the hash while bytes arrive, the digest check once complete, promotion;
 * - {@link ChunkReader} and {@link RangeStreamer}: reads and in-order streams of ranges;
 * - {@link SpanFiles}: ranges as spans of local files, verified or not;
 * - {@link ExtraBytes}: bytes the upstream got without being asked;
 * - {@link DerivedMark}: whether data derived from served bytes may be kept with them.
 *
 * Reads of present chunks go straight to the store; a verified blob skips the map entirely.
 * When every chunk is present the data is hashed and compared with the digest once; on a
 * mismatch the instance is discarded and the read that completed it rejects.
 *
 * @packageDocumentation
 */
import type { FileHandle } from 'node:fs/promises';
import { debuglog } from '../io/debug-log.js';
import { DigestMismatchError, throwIfAborted } from '../errors.js';
import type { ByteSource, ExtraBytesSink, FileSpan, ReadOptions } from '../io/byte-source.js';
import { clampRead } from '../io/check-range.js';
import { raceAbort } from './abort.js';
import { allocOut, ChunkReader } from './chunk-reader.js';
import { chunkRuns, type ChunkRun } from './chunk-runs.js';
import { ChunkWriter } from './chunk-writer.js';
import { DerivedMark } from './derived-mark.js';
import type { Digest } from '../ref/digest.js';
import { CacheClosedError, CacheFullError, CacheIncompleteError } from './errors.js';
import { ExtraBytes } from './extra-sink.js';
import { InflightTable } from './fetch-task.js';
import { Fetcher } from './fetcher.js';
import { DEFAULT_STREAM_MIN_BYTES, type ResolvedSourceOptions } from './options.js';
import { RangeStreamer } from './range-stream.js';
import { PRIORITY_BACKGROUND, PRIORITY_USER } from './scheduler.js';
import { checkSidecarName } from './sidecar.js';
import type { SourceParts } from './source-parts.js';
import { SpanFiles } from './span-files.js';
import { StoreSlot, type StoreOpener } from './store-slot.js';
import { StoreMissError, type ChunkStore } from './store.js';
import { isStreamable, type ChunkSink, type StreamableSource } from './streaming.js';
import { Verifier } from './verifier.js';

const debug = debuglog('ocifs:cache');

/** Options of {@link CachedSource.fill}. */
export interface FillOptions {
  /** Called after each downloaded run with the bytes present so far. */
  onProgress?: (presentBytes: number, size: number) => void;
  signal?: AbortSignal;
  /** `low` yields to reads and readahead (background prefetch); default `normal`. */
  priority?: 'normal' | 'low';
}

/** A byte range of a blob. */
export interface ByteRange {
  offset: number;
  length: number;
}

/** How a {@link CachedSource} is wired to its cache. */
export interface CachedSourceInit {
  digest: Digest;
  size: number;
  upstream: ByteSource;
  options: ResolvedSourceOptions;
  /** Chunk size for a new store. */
  chunkSize: number;
  openStore: StoreOpener;
  /** Called once when the last handle is closed. */
  onClose?: () => void;
  /** Called when the blob became complete (and verified). */
  onComplete?: () => void;
  /** Called with the store once the blob is verified and where every origin finds it (on disk). */
  onVerified?: (store: ChunkStore) => Promise<void>;
}

/** A blob read through the cache. Implements {@link ByteSource}; obtained from `openBlob`. */
export class CachedSource implements StreamableSource {
  readonly size: number;
  /** The blob's digest. */
  readonly digest: string;
  private readonly mark: DerivedMark;
  private readonly slot: StoreSlot;
  private readonly verifier: Verifier;
  private readonly writer: ChunkWriter;
  private readonly fetcher: Fetcher;
  private readonly reader: ChunkReader;
  private readonly streamer: RangeStreamer;
  private readonly spans: SpanFiles;
  private readonly extra: ExtraBytes;
  private filling: Promise<void> | null = null;
  private refs = 1;

  constructor(private readonly init: CachedSourceInit) {
    const { options } = init;
    this.size = init.size;
    this.digest = init.digest.value;
    this.mark = new DerivedMark(this.digest);
    const slot = new StoreSlot({
      digest: this.digest,
      size: init.size,
      chunkSize: init.chunkSize,
      openStore: init.openStore,
      mark: this.mark,
      onDetach: () => {
        this.verifier.forget();
        this.extra.forget();
      },
    });
    this.slot = slot;
    const { digest, onComplete, onVerified } = init;
    this.verifier = new Verifier({ digest, verify: options.verify, slot, mark: this.mark, onComplete, onVerified });
    this.writer = new ChunkWriter(this.digest, this.mark, this.verifier);
    const parts: SourceParts = {
      digest: this.digest,
      size: init.size,
      slot,
      inflight: new InflightTable(),
      writer: this.writer,
      verifier: this.verifier,
    };
    this.fetcher = new Fetcher(parts, init.upstream, options, this.mark);
    this.reader = new ChunkReader(parts, this.fetcher, options.stats);
    this.streamer = new RangeStreamer(parts, this.fetcher, this.reader, isStreamable(init.upstream), options.stats);
    this.spans = new SpanFiles(slot, options.verify, options.stats);
    this.extra = new ExtraBytes(parts);
  }

  /** Opens the store; verifies a blob found complete but not yet verified. */
  async open(): Promise<void> {
    const store = await this.slot.get();
    if (!store.complete && store.kind === 'disk' && store.presentCount === store.chunkCount) {
      await this.verifier.completeOnce().catch((err: unknown) => {
        if (!(err instanceof DigestMismatchError)) throw err;
        debug('%s: stored bytes failed verification at open; starting over', this.digest);
      });
    }
  }

  /** Another handle to the same source (closed separately). */
  retain(): this {
    this.throwIfClosed();
    this.refs++;
    return this;
  }

  /** Bytes per chunk of this blob. */
  get chunkSize(): number {
    return this.slot.chunkSize;
  }

  /** True once every chunk is present (and verified, when verification is on). */
  get isComplete(): boolean {
    return this.slot.complete;
  }

  /** Bytes fetched but not cached (full disk); they were still served. */
  get uncachedBytes(): number {
    return this.writer.uncachedBytes;
  }

  /** Bytes present in the cache, as this process knows it (see {@link missingRanges} for a fresh view). */
  get presentBytes(): number {
    const s = this.slot.current;
    if (!s) return 0;
    if (s.complete) return this.size;
    let bytes = s.presentCount * s.chunkSize;
    const last = s.chunkCount - 1;
    if (last >= 0 && s.has(last)) bytes -= s.chunkCount * s.chunkSize - this.size;
    return bytes;
  }

  /**
   * For a complete, verified blob in the on-disk cache: a read-only handle on its data file (the
   * blob's exact bytes), for copying at file speed (`handle.createReadStream()`, or reading it
   * with large reads). Null otherwise (partial, memory mode, not verified). The handle stays
   * valid even if the blob is evicted meanwhile; close it when done.
   */
  openVerifiedFile(): Promise<FileHandle | null> {
    return this.spans.openVerifiedFile();
  }

  /**
   * Where `[offset, offset + length)` lies in a local file, once the blob is complete and
   * verified: a range of its data file, on a descriptor this source keeps open until it closes
   * (so an eviction meanwhile cannot change the bytes behind it). Undefined while the blob is
   * incomplete or unverified, or in a memory cache: use `read`. The bytes count as cache hits.
   * With `options.unverified`, an incomplete blob's present chunks are given too.
   */
  async fileSpans(offset: number, length: number, options: ReadOptions = {}): Promise<FileSpan[] | undefined> {
    throwIfAborted(options.signal);
    const n = clampRead(offset, length, this.size);
    if (this.slot.closed) return undefined;
    if (!this.isComplete) return options.unverified ? this.spans.unverified(offset, n) : undefined;
    return this.spans.verified(offset, n);
  }

  /** Counts bytes served from the cache without `read` (a copy of the verified data file) in the stats. */
  countHit(bytes: number): void {
    if (this.init.options.stats) this.init.options.stats.cacheHitBytes += bytes;
  }

  /**
   * Marks the start of building data derived from this blob (an index, a TOC): pass it to
   * {@link putSidecar} when the data is built.
   */
  derivedMark(): number {
    return this.mark.current();
  }

  /**
   * A sidecar derived from the bytes of the instance this source reads (see `putSidecar`), or
   * undefined. With `verifyBeforeServe` the blob is downloaded and verified first, so nothing
   * derived from unverified bytes is ever handed out then.
   */
  async getSidecar(name: string, options: ReadOptions = {}): Promise<Uint8Array | undefined> {
    checkSidecarName(name);
    this.throwIfClosed();
    return (await this.storeToServe(options.signal)).getSidecar(name);
  }

  /**
   * Keeps `bytes`, derived from this blob's bytes as this source served them since `mark`
   * ({@link derivedMark}), with the instance those bytes are in: it lives and dies with them
   * (discarded with an instance that fails its digest check, shared by every origin once the
   * instance is verified, never seen through another origin before). Not kept (false) when
   * the bytes served meanwhile may not all be that instance's: then it is rebuilt next time.
   */
  async putSidecar(name: string, bytes: Uint8Array, mark: number): Promise<boolean> {
    checkSidecarName(name);
    if (this.slot.closed) return false;
    // Bytes handed out straight from downloads are in the instance once written (or the
    // generation has moved on).
    await this.flush();
    return this.mark.keep(this.slot.current, name, bytes, mark);
  }

  /** Waits until every downloaded byte so far is written and durably marked present. */
  async flush(): Promise<void> {
    await this.writer.writesDone();
    await this.slot.current?.flush();
  }

  /** The byte ranges not cached yet (re-reading other processes' progress first). */
  async missingRanges(): Promise<ByteRange[]> {
    const store = await this.slot.get();
    if (store.complete) return [];
    await this.slot.refresh(store, 0, store.chunkCount);
    const cs = store.chunkSize;
    const range = ([a, b]: ChunkRun) => ({ offset: a * cs, length: Math.min(this.size, b * cs) - a * cs });
    return [...this.missingRuns(store)].map(range);
  }

  /** Reads `[offset, offset + length)` (cut at the blob's end), fetching missing chunks. */
  async read(offset: number, length: number, options: ReadOptions = {}): Promise<Uint8Array> {
    const n = clampRead(offset, length, this.size);
    throwIfAborted(options.signal);
    this.throwIfClosed();
    if (n === 0) return new Uint8Array(0);
    const store = await this.storeToServe(options.signal);
    if (store.complete) {
      const out = allocOut(n);
      try {
        await store.read(offset, n, out, 0);
        this.countHit(n);
        store.touch();
        return out;
      } catch (err) {
        if (!(err instanceof StoreMissError)) throw err;
      }
    }
    this.fetcher.observe(store, offset, n, options.readaheadLimit);
    return this.reader.read(offset, n, options.signal);
  }

  /**
   * Bytes the upstream obtained beyond what was asked (a registry that ignored Range): the
   * chunks they fully cover are stored and marked present after the next flush. Pass as the
   * upstream's {@link ExtraBytesSink}.
   */
  readonly storeExtra: ExtraBytesSink = (offset, bytes) => this.extra.store(offset, bytes);

  /**
   * Downloads every missing chunk, then (on disk) verifies the blob. Rejects with
   * {@link DigestMismatchError} when the complete blob does not match its digest. Long missing
   * runs are streamed (one upstream request each) when the upstream can stream.
   */
  async fill(options: FillOptions = {}): Promise<void> {
    const priority = options.priority === 'low' ? PRIORITY_BACKGROUND : PRIORITY_USER;
    const report = () => options.onProgress?.(this.presentBytes, this.size);
    const seq = this.verifier.seq;
    for (let pass = 0; pass < 4; pass++) {
      throwIfAborted(options.signal);
      const store = await this.slot.get();
      if (store.complete) break;
      await this.slot.refresh(store, 0, store.chunkCount);
      report();
      const cs = store.chunkSize;
      const canStream = store.kind === 'disk' && isStreamable(this.init.upstream);
      const long: ChunkRun[] = [];
      const short: ChunkRun[] = [];
      for (const [a, b] of this.missingRuns(store)) {
        (canStream && Math.min(this.size, b * cs) - a * cs >= DEFAULT_STREAM_MIN_BYTES ? long : short).push([a, b]);
      }
      const streaming = (async () => {
        for (const [a, b] of long) {
          const to = Math.min(this.size, b * cs);
          const ask = { c0: a, c1: b, from: a * cs, to, signal: options.signal, priority, onProgress: report };
          const at = await this.fetcher.stream(store, ask);
          // Stopped at another process's claim: the rest goes the ordinary way (which waits for it).
          if (at < to) await this.fetcher.fill(store, [[Math.floor(at / cs), b]], priority, options.signal, report);
        }
      })();
      streaming.catch(() => {}); // awaited below
      await this.fetcher.fill(store, short, priority, options.signal, report);
      await streaming;
      await this.writer.writesDone();
      this.verifier.throwIfMismatchSince(seq);
      if (store.kind === 'memory') return;
      if (store.noSpace) throw new CacheFullError(this.digest);
      if (store.presentCount === store.chunkCount) await this.verifier.completeOnce();
    }
    report();
    if (!this.isComplete) throw new CacheIncompleteError(this.digest);
  }

  /**
   * Delivers `[offset, offset + length)` to `sink`, in order (see {@link StreamableSource}):
   * present chunks from the store; a missing run of at least {@link DEFAULT_STREAM_MIN_BYTES}
   * as one upstream stream when the upstream can stream (its bytes reach `sink` as they arrive
   * and are cached on the way, other readers in this process joining it); anything else through
   * ordinary reads. Nothing is read ahead beyond the range. Like a read, the stream that
   * completes the blob waits for its verification and rejects on a mismatch (after `sink` got
   * the bytes: use `verifyBeforeServe` to get none before). The chunks given to `sink` may still
   * be on their way to the data file: treat them as read-only.
   */
  async streamRange(offset: number, length: number, sink: ChunkSink, options: ReadOptions = {}): Promise<void> {
    const n = clampRead(offset, length, this.size);
    const signal = options.signal;
    throwIfAborted(signal);
    this.throwIfClosed();
    if (n === 0) return;
    const seq = this.verifier.seq;
    await this.storeToServe(signal);
    await this.streamer.stream(offset, offset + n, sink, signal, seq);
  }

  /** Stops using `store` (evicted, discarded, corrupt); the next operation opens a fresh one. */
  resetStore(store?: ChunkStore | null): void {
    this.slot.reset(store);
  }

  /** Releases this handle; the last one stops fetching, flushes and closes the files. */
  async close(): Promise<void> {
    if (this.slot.closed) return;
    if (--this.refs > 0) return;
    await this.destroy();
  }

  /** Closes every handle at once (the cache is closing). */
  async destroy(): Promise<void> {
    if (this.slot.closed) return;
    this.refs = 0;
    const closing = this.slot.close();
    this.fetcher.shutdown(new CacheClosedError(`cached blob ${this.digest}`));
    await closing;
    await this.spans.close();
    this.init.onClose?.();
  }

  /** The store, after downloading and verifying the whole blob first under `verifyBeforeServe`. */
  private async storeToServe(signal: AbortSignal | undefined): Promise<ChunkStore> {
    const store = await this.slot.get();
    if (!this.init.options.verifyBeforeServe || store.complete) return store;
    this.filling ??= this.fill().finally(() => (this.filling = null));
    await (signal ? raceAbort(this.filling, signal) : this.filling);
    return this.slot.get();
  }

  /** The runs of chunks `store` does not hold. */
  private missingRuns(store: ChunkStore): Generator<ChunkRun> {
    return chunkRuns(0, store.chunkCount, (c) => !store.has(c));
  }

  private throwIfClosed(): void {
    if (this.slot.closed) throw new CacheClosedError(`cached blob ${this.digest}`);
  }
}
