/**
 * {@link CachedSource}: a byte source that serves a blob from a chunk store and fetches missing
 * chunks from its upstream byte source.
 *
 * - Reads of present chunks go straight to the store; a verified blob skips the map entirely.
 * - Missing chunks are fetched in runs: adjacent missing chunks form one upstream read, capped
 *   at `maxRequestBytes`; a large run is split over up to `parallelism` concurrent reads.
 * - A chunk being fetched is in `inflight`: a second read needing it waits for the same task.
 * - Other processes are coordinated through the disk store's claim files.
 * - Sequential reads trigger readahead at a lower priority; random reads cancel it.
 * - When every chunk is present the data is hashed and compared with the digest once; on a
 *   mismatch the instance is discarded and the read that completed it rejects.
 *
 * @packageDocumentation
 */
import type { FileHandle } from 'node:fs/promises';
import { debuglog } from '../io/debug-log.js';
import { DigestMismatchError, throwIfAborted, AbortedError } from '../errors.js';
import type { ByteSource, ExtraBytesSink, FileSpan, ReadOptions } from '../io/byte-source.js';
import { clampRead } from '../io/check-range.js';
import {
  CacheClosedError,
  CacheCorruptError,
  CacheFullError,
  CacheIncompleteError,
  CacheStuckError,
  UpstreamShortReadError,
} from './errors.js';
import type { Digest } from '../ref/digest.js';
import { DiskStore } from './disk-store.js';
import { FetchTask, type Piece } from './fetch-task.js';
import { isNoSpace } from './fs-util.js';
import { MemoryPool, MemoryStore } from './memory-store.js';
import { DEFAULT_MIN_SPLIT_BYTES, DEFAULT_STREAM_MIN_BYTES, type ResolvedSourceOptions } from './options.js';
import { PrefixHasher } from './prefix-hasher.js';
import { Readahead } from './readahead.js';
import { PRIORITY_BACKGROUND, PRIORITY_READAHEAD, PRIORITY_USER, Scheduler } from './scheduler.js';
import { StoreMissError, type ChunkStore, type WriteResult } from './store.js';
import { waitForeignBlock } from './remote-wait.js';
import { checkSidecarName } from './sidecar.js';
import { isStreamable, partsLength, type ChunkSink, type StreamableSource } from './streaming.js';
import { streamRun, StreamJob, type StreamHost } from './stream-fetch.js';

const debug = debuglog('ocifs:cache');

/** How often (at most) a source checks that its on-disk instance was not evicted meanwhile. */
const CURRENT_CHECK_MS = 1000;
/** After failing to create an instance for lack of space, retry this much later. */
const NO_SPACE_RETRY_MS = 10_000;
/** Bytes per store read when streaming present chunks. */
const STORED_PIECE_BYTES = 4 * 1024 * 1024;

/** A data file open for spans, with the `dev:ino` id a span names it by. */
interface SpanFile {
  fh: FileHandle;
  fileId: string;
}

async function withFileId(fh: FileHandle | null): Promise<SpanFile | null> {
  if (fh === null) return null;
  const st = await fh.stat({ bigint: true });
  return { fh, fileId: `${st.dev}:${st.ino}` };
}

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

/** Opens the store of a blob: `chunkSize` is required when `adopt` is false. */
export type StoreOpener = (chunkSize: number, adopt: boolean) => Promise<ChunkStore>;

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
  /** Bytes fetched but not cached (full disk); they were still served. */
  uncachedBytes = 0;
  /**
   * Changes whenever bytes served from now on may not be the current instance's, or bytes
   * served before may not be in it: the instance was replaced or failed its check, or fetched
   * bytes were served without being stored. Derived data is only kept when it did not change
   * while the data was built ({@link putSidecar}).
   */
  private generation = 0;
  private store: ChunkStore | null = null;
  private storeOpening: Promise<ChunkStore> | null = null;
  private fallbackUntil = 0;
  private chunkSizeValue: number;
  private chunkSizeFixed = false;
  private hasher: PrefixHasher | null = null;
  private readonly inflight = new Map<number, FetchTask>();
  private readonly scheduler: Scheduler;
  private readahead: Readahead | null = null;
  /** The verified data file behind {@link fileSpans}, opened on first use. */
  private spanFile: Promise<SpanFile | null> | undefined;
  /** Data files of incomplete instances behind `unverified` spans, kept open until close. */
  private readonly partialFiles = new Map<ChunkStore, Promise<SpanFile | null>>();
  private completing: Promise<void> | null = null;
  private filling: Promise<void> | null = null;
  private lastCurrentCheck = 0;
  private lastFullRefresh = 0;
  private carry: Piece | null = null;
  private refs = 1;
  private closed = false;
  private completeAtClose = false;
  /** Chunks whose bytes were handed to readers but are not written yet. */
  private writingChunks = 0;
  /** Counts digest mismatches found; a read that overlapped one rejects with it. */
  private mismatchSeq = 0;
  private lastMismatch: DigestMismatchError | null = null;
  private writersIdle: (() => void)[] = [];
  /** Running streamed fetches (aborted on destroy). */
  private readonly streams = new Set<AbortController>();
  private readonly streamHost: StreamHost;

  constructor(private readonly init: CachedSourceInit) {
    this.size = init.size;
    this.digest = init.digest.value;
    this.chunkSizeValue = init.chunkSize;
    this.scheduler = new Scheduler(init.options.parallelism);
    this.streamHost = {
      digest: this.digest,
      size: this.size,
      verify: init.options.verify,
      inflight: this.inflight,
      storeBytes: (store, c0, parts) => this.storeBytes(store, c0, parts),
      refresh: (store, c0, c1) => this.refreshSafe(store, c0, c1),
      hasherFor: (store) => this.hasherFor(store),
      addWriting: (delta) => {
        this.writingChunks += delta;
        if (delta < 0) this.wakeWriters();
      },
      dropTask: (task, pieces) => this.dropTask(task, pieces),
    };
  }

  /** Opens the store; verifies a blob found complete but not yet verified. */
  async open(): Promise<void> {
    const store = await this.getStore();
    if (!store.complete && store.kind === 'disk' && store.presentCount === store.chunkCount) {
      await this.completeOnce().catch((err) => {
        if (!(err instanceof DigestMismatchError)) throw err;
        debug('%s: stored bytes failed verification at open; starting over', this.digest);
      });
    }
  }

  /** Another handle to the same source (closed separately). */
  retain(): this {
    if (this.closed) throw new CacheClosedError(`cached blob ${this.digest}`);
    this.refs++;
    return this;
  }

  /** Bytes per chunk of this blob. */
  get chunkSize(): number {
    return this.chunkSizeValue;
  }

  /** True once every chunk is present (and verified, when verification is on). */
  get isComplete(): boolean {
    return this.store?.complete ?? this.completeAtClose;
  }

  /** Bytes present in the cache, as this process knows it (see {@link missingRanges} for a fresh view). */
  get presentBytes(): number {
    const s = this.store;
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
  async openVerifiedFile(): Promise<FileHandle | null> {
    const store = await this.getStore();
    return store instanceof DiskStore && store.complete && this.init.options.verify ? store.openVerifiedData() : null;
  }

  /**
   * Where `[offset, offset + length)` lies in a local file, once the blob is complete and
   * verified: a range of its data file, on a descriptor this source keeps open until it closes
   * (so an eviction meanwhile cannot change the bytes behind it). Undefined while the blob is
   * incomplete or unverified, or in a memory cache: use `read`. The bytes count as cache hits.
   */
  async fileSpans(offset: number, length: number, options: ReadOptions = {}): Promise<FileSpan[] | undefined> {
    throwIfAborted(options.signal);
    const n = clampRead(offset, length, this.size);
    if (this.closed) return undefined;
    if (!this.isComplete) return options.unverified ? this.presentSpans(offset, n) : undefined;
    if (this.spanFile === undefined) {
      const opening = this.openVerifiedFile().then(withFileId);
      this.spanFile = opening;
      // Not verified (yet): ask again next time rather than remember the refusal.
      opening.then((f) => f === null && this.spanFile === opening && (this.spanFile = undefined), () => (this.spanFile = undefined));
    }
    return this.spanIn(this.spanFile, offset, n);
  }

  /**
   * `[offset, offset + n)` as a span of the data file of an incomplete instance, when every
   * chunk of it is readable here (written to the file: only missing chunks are ever written,
   * so those bytes never change), else undefined. Unverified: see `ReadOptions.unverified`.
   */
  private async presentSpans(offset: number, n: number): Promise<FileSpan[] | undefined> {
    const store = await this.getStore();
    if (!(store instanceof DiskStore) || store.complete || n === 0) return undefined;
    const cs = store.chunkSize;
    for (let c = Math.floor(offset / cs), end = Math.ceil((offset + n) / cs); c < end; c++) if (!store.has(c)) return undefined;
    let opening = this.partialFiles.get(store);
    if (opening === undefined) {
      opening = store.openData().then(withFileId);
      opening.catch(() => {});
      this.partialFiles.set(store, opening);
    }
    return this.spanIn(opening, offset, n);
  }

  /** `[offset, offset + n)` of the file `opening` gives, counted as a cache hit; undefined when it gave none or this source closed. */
  private async spanIn(opening: Promise<SpanFile | null>, offset: number, n: number): Promise<FileSpan[] | undefined> {
    const f = await opening.catch(() => null);
    if (f === null || this.closed) return undefined;
    this.countHit(n);
    return n === 0 ? [] : [{ fd: f.fh.fd, fileId: f.fileId, position: offset, length: n }];
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
    return this.generation;
  }

  /**
   * A sidecar derived from the bytes of the instance this source reads (see `putSidecar`), or
   * undefined. With `verifyBeforeServe` the blob is downloaded and verified first, so nothing
   * derived from unverified bytes is ever handed out then.
   */
  async getSidecar(name: string, options: ReadOptions = {}): Promise<Uint8Array | undefined> {
    checkSidecarName(name);
    if (this.closed) throw new CacheClosedError(`cached blob ${this.digest}`);
    let store = await this.getStore();
    if (this.init.options.verifyBeforeServe && !store.complete) {
      await this.fillForServe(options.signal);
      store = await this.getStore();
    }
    return store.getSidecar(name);
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
    if (this.closed) return false;
    // Bytes handed out straight from downloads are in the instance once written (or the
    // generation has moved on).
    await this.flush();
    const store = this.store;
    if (!store || this.generation !== mark) {
      debug('%s: sidecar %s not kept: the bytes it was built from are not all in one instance', this.digest, name);
      return false;
    }
    return store.putSidecar(name, bytes);
  }

  /** Waits until every downloaded byte so far is written and durably marked present. */
  async flush(): Promise<void> {
    await this.writesDone();
    await this.store?.flush();
  }

  /** The byte ranges not cached yet (re-reading other processes' progress first). */
  async missingRanges(): Promise<ByteRange[]> {
    const store = await this.getStore();
    if (store.complete) return [];
    await this.refreshSafe(store, 0, store.chunkCount);
    const out: ByteRange[] = [];
    const cs = store.chunkSize;
    for (let c = 0; c < store.chunkCount; c++) {
      if (store.has(c)) continue;
      let e = c;
      while (e < store.chunkCount && !store.has(e)) e++;
      out.push({ offset: c * cs, length: Math.min(this.size, e * cs) - c * cs });
      c = e;
    }
    return out;
  }

  async read(offset: number, length: number, options: ReadOptions = {}): Promise<Uint8Array> {
    const n = clampRead(offset, length, this.size);
    throwIfAborted(options.signal);
    if (this.closed) throw new CacheClosedError(`cached blob ${this.digest}`);
    if (n === 0) return new Uint8Array(0);
    let store = await this.getStore();
    if (this.init.options.verifyBeforeServe && !store.complete) {
      await this.fillForServe(options.signal);
      store = await this.getStore();
    }
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
    this.observeReadahead(store, offset, n, options.readaheadLimit);
    return this.readSlow(offset, n, options.signal);
  }

  private async readSlow(offset: number, n: number, signal: AbortSignal | undefined): Promise<Uint8Array> {
    const seq = this.mismatchSeq;
    const out = allocOut(n);
    const end = offset + n;
    const cs = this.chunkSize;
    const c0 = Math.floor(offset / cs);
    const c1 = Math.floor((end - 1) / cs) + 1;
    const covered = new Uint8Array(c1 - c0);
    const need = (c: number): [number, number] => [Math.max(offset, c * cs), Math.min(end, (c + 1) * cs)];
    let first = true;
    let store = await this.getStore();
    const copyPieces = (pieces: Piece[]): number => {
      let copied = 0;
      for (const p of pieces) {
        const pEnd = p.offset + p.bytes.byteLength;
        for (let c = Math.max(c0, Math.floor(p.offset / cs)); c < c1 && c * cs < pEnd; c++) {
          if (covered[c - c0]) continue;
          const [from, to] = need(c);
          if (p.offset > from || pEnd < to) continue;
          out.set(p.bytes.subarray(from - p.offset, to - p.offset), from - offset);
          covered[c - c0] = 1;
          copied += to - from;
        }
      }
      return copied;
    };
    for (let round = 0; ; round++) {
      if (round > 10_000) throw new CacheStuckError(this.digest, offset);
      throwIfAborted(signal);
      store = await this.getStore();
      let anyMissing = false;
      for (let c = c0; c < c1 && !anyMissing; c++) anyMissing = !covered[c - c0] && !store.has(c);
      if (anyMissing) {
        await this.refreshSafe(store, c0, c1);
        store = await this.getStore();
      }
      // Serve what is readable now.
      let served = 0;
      for (let c = c0; c < c1; c++) {
        if (covered[c - c0] || !store.has(c)) continue;
        let e = c;
        while (e < c1 && !covered[e - c0] && store.has(e)) e++;
        const from = need(c)[0];
        const to = need(e - 1)[1];
        try {
          await store.read(from, to - from, out, from - offset);
          covered.fill(1, c - c0, e - c0);
          served += to - from;
        } catch (err) {
          if (!(err instanceof StoreMissError)) throw err;
        }
        c = e - 1;
      }
      // Bytes of finished downloads not yet written are in memory: no waiting either.
      for (let c = c0; c < c1; c++) {
        const t = covered[c - c0] ? undefined : this.inflight.get(c);
        if (t?.result) served += copyPieces(t.result);
      }
      if (first) {
        first = false;
        const stats = this.init.options.stats;
        if (stats) {
          stats.cacheHitBytes += served;
          stats.cacheMissBytes += n - served;
        }
      }
      if (covered.every((v) => v === 1)) break;
      if (store.kind === 'disk' && Date.now() - this.lastCurrentCheck > CURRENT_CHECK_MS) {
        this.lastCurrentCheck = Date.now();
        if (!(await store.isCurrent())) {
          debug('%s: instance was evicted or replaced; reattaching', this.digest);
          this.resetStore(store);
          continue;
        }
      }
      const tasks = this.ensure(store, c0, c1, PRIORITY_USER, (c) => covered[c - c0] === 1);
      const pieces = await this.waitTasks(tasks, signal);
      copyPieces(pieces);
    }
    // The read that makes the blob complete waits for its verification (and rejects on a
    // mismatch); bytes it got straight from a download may still be on their way to disk.
    if (store.kind === 'disk' && !store.complete && store.presentCount + this.writingChunks >= store.chunkCount) {
      await this.writesDone();
      if (store.presentCount === store.chunkCount) await this.completeOnce();
    }
    this.throwIfMismatchSince(seq);
    store.touch();
    return out;
  }

  /**
   * Makes sure every chunk of `[c0, c1)` that is neither readable nor `skip`ped is being
   * fetched; returns the tasks to wait for (joined and new).
   */
  private ensure(store: ChunkStore, c0: number, c1: number, priority: number, skip?: (c: number) => boolean): FetchTask[] {
    const out = new Set<FetchTask>();
    let run = -1;
    const flush = (a: number, b: number) => {
      for (const t of this.planRun(store, a, b, priority)) out.add(t);
    };
    for (let c = c0; c < c1; c++) {
      const t = skip?.(c) || store.has(c) ? undefined : this.inflight.get(c);
      if (skip?.(c) || store.has(c) || t) {
        if (run >= 0) flush(run, c);
        run = -1;
        if (t) {
          out.add(t);
          this.scheduler.promote(t, priority);
        }
        continue;
      }
      if (run < 0) run = c;
    }
    if (run >= 0) flush(run, c1);
    return [...out];
  }

  /** Splits a missing run into tasks: at most maxRequestBytes each, spread over the parallel slots. */
  private planRun(store: ChunkStore, a: number, b: number, priority: number): FetchTask[] {
    const cs = this.chunkSize;
    const opts = this.init.options;
    const maxChunks = Math.max(1, Math.floor(opts.maxRequestBytes / cs));
    const total = b - a;
    let pieces = Math.ceil(total / maxChunks);
    if (pieces < opts.parallelism) {
      const minSplit = Math.max(1, Math.floor(DEFAULT_MIN_SPLIT_BYTES / cs));
      pieces = Math.max(pieces, Math.min(opts.parallelism, Math.floor(total / minSplit)));
    }
    const per = Math.ceil(total / pieces);
    const block = store.claims?.blockChunks ?? 1;
    const tasks: FetchTask[] = [];
    for (let s = a; s < b; ) {
      let e = Math.min(b, s + per);
      // Cut at claim-block boundaries so parallel tasks do not share a claim file.
      if (e < b && block > 1 && block <= per) {
        const aligned = Math.floor(e / block) * block;
        if (aligned > s) e = aligned;
      }
      const task = new FetchTask(s, e, priority, (t) => this.runTask(t));
      for (let c = s; c < e; c++) this.inflight.set(c, task);
      tasks.push(task);
      this.scheduler.enqueue(task);
      s = e;
    }
    return tasks;
  }

  /** Waits for tasks on behalf of one reader; an aborted reader withdraws (and cancels queued tasks nobody wants). */
  private async waitTasks(tasks: FetchTask[], signal: AbortSignal | undefined): Promise<Piece[]> {
    for (const t of tasks) t.waiters++;
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      if (!signal) return;
      onAbort = () => reject(new AbortedError({ cause: signal.reason }));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => {});
    try {
      const all = await Promise.race([Promise.all(tasks.map((t) => t.promise)), aborted]);
      return all.flat();
    } finally {
      if (onAbort) signal!.removeEventListener('abort', onAbort);
      for (const t of tasks) {
        t.waiters--;
        if (t.waiters === 0 && t.state === 'queued' && t.priority === PRIORITY_USER) {
          this.scheduler.cancelWhere((j) => j === t);
          this.dropTask(t, []);
        }
      }
    }
  }

  private dropTask(t: FetchTask, pieces: Piece[]): void {
    for (let c = t.c0; c < t.c1; c++) if (this.inflight.get(c) === t) this.inflight.delete(c);
    t.finish(pieces);
  }

  /**
   * Runs in a scheduler slot: claim, fetch, hand the bytes to the waiting readers, write them.
   * Waiting for other processes' downloads happens after the slot is freed.
   */
  private async runTask(task: FetchTask): Promise<void> {
    const held: number[] = [];
    const durables: Promise<boolean>[] = [];
    let store: ChunkStore | undefined;
    let writing = 0;
    try {
      if (this.closed) throw new CacheClosedError(`cached blob ${this.digest}`);
      store = await this.getStore();
      const { c0, c1 } = task;
      const cs = this.chunkSize;
      const mine = new Uint8Array(c1 - c0).fill(1);
      const foreign: number[] = [];
      if (store.claims) {
        const bc = store.claims.blockChunks;
        for (let b = Math.floor(c0 / bc); b * bc < c1; b++) {
          if (await store.claims.acquire(b)) held.push(b);
          else {
            foreign.push(b);
            mine.fill(0, Math.max(0, b * bc - c0), Math.min(c1, (b + 1) * bc) - c0);
          }
        }
      }
      // Claimed now; another process may have finished these chunks just before.
      await this.refreshSafe(store, c0, c1);
      const pieces: Piece[] = [];
      for (let c = c0; c < c1; c++) {
        if (!mine[c - c0] || store.has(c)) continue;
        let e = c;
        while (e < c1 && mine[e - c0] && !store.has(e)) e++;
        const off = c * cs;
        const len = Math.min(this.size, e * cs) - off;
        const bytes = await this.init.upstream.read(off, len, { signal: task.abort.signal });
        if (bytes.byteLength !== len) throw new UpstreamShortReadError(this.digest, off, len, bytes.byteLength);
        pieces.push({ offset: off, bytes });
        c = e - 1;
      }
      // On disk, readers get the bytes now; writing (and, later, flushing) them is not their
      // concern. Until written, the chunks stay in `inflight`, so new readers join this task.
      // In memory mode the write is instant and the hash must be checked first.
      const early = foreign.length === 0 && store.kind === 'disk';
      if (early) {
        task.finish(pieces);
        for (const p of pieces) writing += Math.ceil(p.bytes.byteLength / cs);
        this.writingChunks += writing;
      }
      for (const p of pieces) {
        const w = await this.storeBytes(store, p.offset / cs, p.bytes);
        if (w) {
          durables.push(w.durable);
          if (w.all && this.init.options.verify) this.hasherFor(store).offer(p.offset, p.bytes);
        }
        if (early) {
          const k = Math.ceil(p.bytes.byteLength / cs);
          writing -= k;
          this.writingChunks -= k;
        }
      }
      await this.afterWrite(store);
      if (foreign.length === 0) {
        this.dropTask(task, pieces);
      } else {
        // Free the slot; wait for the other processes' downloads outside it.
        const s = store;
        const maxWait = this.init.options.claimStaleMs * 3;
        void Promise.all(foreign.map((b) => waitForeignBlock(s, b, c0, c1, task.abort.signal, maxWait)))
          .then(async (ok) => {
            // An owner alive but stuck for long: fetch for our readers, without writing (not our claim).
            if (ok.includes(false)) {
              this.generation++;
              debug('%s: claims %s held too long by a live process; fetching without caching', this.digest, foreign.join(','));
              await s.refresh(c0, c1);
              for (let c = c0; c < c1; c++) {
                if (mine[c - c0] || s.has(c)) continue;
                let e = c;
                while (e < c1 && !mine[e - c0] && !s.has(e)) e++;
                const off = c * cs;
                const len = Math.min(this.size, e * cs) - off;
                const bytes = await this.init.upstream.read(off, len, { signal: task.abort.signal });
                if (bytes.byteLength !== len) throw new UpstreamShortReadError(this.digest, off, len, bytes.byteLength);
                pieces.push({ offset: off, bytes });
                c = e - 1;
              }
            }
            this.dropTask(task, pieces);
          })
          .catch((err) => this.failTask(task, err));
      }
    } catch (err) {
      this.writingChunks -= writing;
      this.failTask(task, err);
    } finally {
      this.wakeWriters();
      if (store?.claims && held.length > 0) {
        const claims = store.claims;
        // Other processes trust the map only, so the claim stays until our marks are on disk.
        void Promise.all(durables).finally(() => Promise.all(held.map((b) => claims.release(b))));
      }
    }
  }

  private noteMismatch(err: DigestMismatchError): DigestMismatchError {
    this.mismatchSeq++;
    this.generation++;
    this.lastMismatch = err;
    return err;
  }

  /** Rejects a read or fill during which the blob failed verification (even if found by readahead). */
  private throwIfMismatchSince(seq: number): void {
    if (this.mismatchSeq !== seq && this.lastMismatch) throw this.lastMismatch;
  }

  private wakeWriters(): void {
    if (this.writingChunks > 0) return;
    for (const w of this.writersIdle.splice(0)) w();
  }

  /** Resolves when no fetched bytes are waiting to be written. */
  private writesDone(): Promise<void> {
    if (this.writingChunks === 0) return Promise.resolve();
    return new Promise((r) => this.writersIdle.push(r));
  }

  private failTask(task: FetchTask, err: unknown): void {
    for (let c = task.c0; c < task.c1; c++) if (this.inflight.get(c) === task) this.inflight.delete(c);
    task.fail(err);
  }

  /** Writes fetched bytes; a full disk (or other write failure) leaves them uncached but served. */
  private async storeBytes(store: ChunkStore, c0: number, bytes: Uint8Array | readonly Uint8Array[]): Promise<WriteResult | null> {
    if (!Number.isInteger(c0)) throw new Error(`unaligned write at chunk ${c0}`);
    const len = bytes instanceof Uint8Array ? bytes.byteLength : partsLength(bytes);
    try {
      const w = await store.write(c0, bytes);
      if (!w) {
        this.uncachedBytes += len;
        this.generation++;
      } else if (!w.all && store.noSpace) {
        this.generation++;
        // The disk filled up part-way: count the chunks that are still not stored.
        const cs = store.chunkSize;
        for (let c = c0; c * cs < c0 * cs + len; c++) {
          if (!store.has(c)) this.uncachedBytes += Math.min(cs, c0 * cs + len - c * cs);
        }
      }
      return w;
    } catch (err) {
      debug('%s: caching %d bytes failed (%s); served uncached', this.digest, len, (err as Error).message);
      this.uncachedBytes += len;
      this.generation++;
      return null;
    }
  }

  /** Advances the hash; in memory mode checks it at the end; on disk starts completion when all is there. */
  private async afterWrite(store: ChunkStore): Promise<void> {
    const verify = this.init.options.verify;
    if (store.kind === 'memory') {
      if (!verify) return;
      const h = this.hasherFor(store);
      await h.advance();
      const hex = h.done ? await this.digestOf(store, h) : this.init.digest.hex;
      if (hex !== this.init.digest.hex) {
        const actual = `${this.init.digest.algorithm}:${hex}`;
        this.resetStore(store);
        throw this.noteMismatch(new DigestMismatchError(this.digest, actual, `blob ${this.digest}`));
      }
      return;
    }
    if (verify) this.hasherFor(store).advance().catch((err) => debug('%s: hashing: %s', this.digest, (err as Error).message));
    if (store.presentCount < store.chunkCount && Date.now() - this.lastFullRefresh > 500) {
      this.lastFullRefresh = Date.now();
      await this.refreshSafe(store, 0, store.chunkCount);
    }
    if (!store.complete && store.presentCount === store.chunkCount) this.completeOnce().catch(() => {});
  }

  private hasherFor(store: ChunkStore): PrefixHasher {
    if (!this.hasher || this.hasher.store !== store) {
      this.hasher?.dispose();
      this.hasher = new PrefixHasher(store, this.init.digest);
    }
    return this.hasher;
  }

  /** The finished hash's digest; if the hash worker died, hashes the stored bytes again here. */
  private async digestOf(store: ChunkStore, h: PrefixHasher): Promise<string> {
    try {
      return await h.digestHex();
    } catch (err) {
      debug('%s: hash worker failed (%s); hashing again in this thread', this.digest, (err as Error).message);
      const local = new PrefixHasher(store, this.init.digest, true);
      await local.advance();
      if (!local.done) throw err;
      return local.digestHex();
    }
  }

  /**
   * Once every chunk is present: flushes, verifies against the digest and records the state.
   * Concurrent callers share one run. Rejects with {@link DigestMismatchError} (after discarding
   * the stored bytes) when the blob does not match its digest.
   */
  private completeOnce(): Promise<void> {
    if (this.completing) return this.completing;
    const store = this.store;
    if (!store || store.complete || store.kind !== 'disk') return Promise.resolve();
    this.completing = (async () => {
      await store.flush();
      await this.refreshSafe(store, 0, store.chunkCount);
      if (store !== this.store || store.presentCount < store.chunkCount) return;
      if (this.init.options.verify) {
        const h = this.hasherFor(store);
        await h.advance();
        if (!h.done) return;
        const hex = await this.digestOf(store, h);
        if (hex !== this.init.digest.hex) {
          const actual = `${this.init.digest.algorithm}:${hex}`;
          await store.discard('digest mismatch');
          this.resetStore(store);
          throw this.noteMismatch(new DigestMismatchError(this.digest, actual, `blob ${this.digest}`));
        }
      }
      await store.setComplete(this.init.options.verify);
      debug('%s: complete%s', this.digest, this.init.options.verify ? ' and verified' : '');
      if (this.init.options.verify && store instanceof DiskStore) {
        // Verified: the instance moves where every origin finds it (or another origin's
        // verified copy is there already: then that one is used from now on).
        if (await store.promote()) await this.init.onVerified?.(store).catch((err) => debug('%s: %s', this.digest, (err as Error).message));
        else this.resetStore(store);
      }
      this.init.onComplete?.();
    })().finally(() => (this.completing = null));
    return this.completing;
  }

  private observeReadahead(store: ChunkStore, offset: number, n: number, limit: number | undefined): void {
    const ra = this.init.options.readahead;
    if (!ra || this.closed) return;
    this.readahead ??= new Readahead(this.size, this.chunkSize, ra.initialBytes, ra.maxBytes);
    const d = this.readahead.observe(offset, n, limit);
    if (d.kind === 'cancel') {
      for (const j of this.scheduler.cancelWhere((t) => t.priority === PRIORITY_READAHEAD && (t as FetchTask).waiters === 0)) {
        this.dropTask(j as FetchTask, []);
      }
    } else if (d.kind === 'fetch') {
      const cs = this.chunkSize;
      this.ensure(store, Math.floor(d.start / cs), Math.ceil(d.end / cs), PRIORITY_READAHEAD);
    }
  }

  /**
   * Bytes the upstream obtained beyond what was asked (a registry that ignored Range): the
   * chunks they fully cover are stored and marked present after the next flush. Pass as the
   * upstream's {@link ExtraBytesSink}.
   */
  readonly storeExtra: ExtraBytesSink = async (offset: number, bytes: Uint8Array): Promise<void> => {
    if (this.closed || bytes.byteLength === 0) return;
    const store = await this.getStore();
    if (store.complete) return;
    const cs = this.chunkSize;
    if (this.carry && this.carry.offset + this.carry.bytes.byteLength === offset) {
      bytes = Buffer.concat([this.carry.bytes, bytes]);
      offset = this.carry.offset;
    }
    this.carry = null;
    const end = Math.min(this.size, offset + bytes.byteLength);
    const a = Math.ceil(offset / cs);
    const b = end === this.size ? store.chunkCount : Math.floor(end / cs);
    // Keep the tail of a chunk for the next call (sinks are called in offset order).
    if (end < this.size) {
      const tailStart = Math.max(offset, b * cs);
      if (tailStart % cs === 0 && tailStart < end) this.carry = { offset: tailStart, bytes: Uint8Array.prototype.slice.call(bytes, tailStart - offset, end - offset) };
    }
    // A chunk a running download of ours is fetching is left to it; one only queued is not.
    const skip = (c: number) => store.has(c) || this.inflight.get(c)?.state === 'running';
    // Only a claim holder writes a chunk, as for downloads (so verification can trust what it hashed).
    const bc = store.claims?.blockChunks ?? Math.max(1, store.chunkCount);
    for (let blockStart = a - (a % bc); blockStart < b; blockStart += bc) {
      const lo = Math.max(a, blockStart);
      const hi = Math.min(b, blockStart + bc);
      let any = false;
      for (let c = lo; c < hi && !any; c++) any = !skip(c);
      if (!any) continue;
      const block = blockStart / bc;
      if (store.claims && !(await store.claims.acquire(block))) continue;
      const durables: Promise<boolean>[] = [];
      for (let c = lo; c < hi; c++) {
        if (skip(c)) continue;
        let e = c;
        while (e < hi && !skip(e)) e++;
        const piece = bytes.subarray(c * cs - offset, Math.min(end, e * cs) - offset);
        const w = await this.storeBytes(store, c, piece);
        if (w) {
          durables.push(w.durable);
          if (w.all && this.init.options.verify) this.hasherFor(store).offer(c * cs, piece);
        }
        c = e - 1;
      }
      const claims = store.claims;
      if (claims) void Promise.all(durables).finally(() => claims.release(block));
    }
    await this.afterWrite(store).catch((err) => debug('%s: %s', this.digest, (err as Error).message));
  };

  /**
   * Downloads every missing chunk, then (on disk) verifies the blob. Rejects with
   * {@link DigestMismatchError} when the complete blob does not match its digest. Long missing
   * runs are streamed (one upstream request each) when the upstream can stream.
   */
  async fill(options: FillOptions = {}): Promise<void> {
    const priority = options.priority === 'low' ? PRIORITY_BACKGROUND : PRIORITY_USER;
    const report = () => options.onProgress?.(this.presentBytes, this.size);
    const seq = this.mismatchSeq;
    for (let pass = 0; pass < 4; pass++) {
      throwIfAborted(options.signal);
      const store = await this.getStore();
      if (store.complete) break;
      await this.refreshSafe(store, 0, store.chunkCount);
      report();
      const cs = store.chunkSize;
      const canStream = store.kind === 'disk' && isStreamable(this.init.upstream);
      const long: [number, number][] = [];
      const short: [number, number][] = [];
      for (let c = 0; c < store.chunkCount; c++) {
        if (store.has(c)) continue;
        let e = c;
        while (e < store.chunkCount && !store.has(e)) e++;
        (canStream && Math.min(this.size, e * cs) - c * cs >= DEFAULT_STREAM_MIN_BYTES ? long : short).push([c, e]);
        c = e - 1;
      }
      const streaming = (async () => {
        for (const [a, b] of long) {
          const end = Math.min(this.size, b * cs);
          const at = await this.streamMissing(store, a, b, a * cs, end, undefined, options.signal, priority, report);
          // Stopped at another process's claim: the rest goes the ordinary way (which waits for it).
          if (at < end) await this.fillRuns(store, [[Math.floor(at / cs), b]], priority, options.signal, report);
        }
      })();
      streaming.catch(() => {}); // awaited below
      await this.fillRuns(store, short, priority, options.signal, report);
      await streaming;
      await this.writesDone();
      this.throwIfMismatchSince(seq);
      if (store.kind === 'memory') return;
      if (store.noSpace) throw new CacheFullError(this.digest);
      if (store.presentCount === store.chunkCount) await this.completeOnce();
    }
    report();
    if (!this.isComplete) throw new CacheIncompleteError(this.digest);
  }

  /** Fetches the missing chunks of runs `[a, b)` as tasks of at most maxRequestBytes, a few at a time. */
  private async fillRuns(store: ChunkStore, runs: [number, number][], priority: number, signal: AbortSignal | undefined, report: () => void): Promise<void> {
    const maxChunks = Math.max(1, Math.floor(this.init.options.maxRequestBytes / store.chunkSize));
    const window = this.init.options.parallelism * 2;
    const active: Promise<unknown>[] = [];
    for (const [a, b] of runs) {
      for (let c = a; c < b; c++) {
        if (store.has(c)) continue;
        let e = c;
        while (e < b && e - c < maxChunks && !store.has(e)) e++;
        const tasks = this.ensure(store, c, e, priority);
        const p = this.waitTasks(tasks, signal).then(report);
        p.catch(() => {}); // awaited below; do not let a later one reject unobserved meanwhile
        active.push(p);
        if (active.length >= window) await active.shift();
        c = e - 1;
      }
    }
    await Promise.all(active);
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
    if (this.closed) throw new CacheClosedError(`cached blob ${this.digest}`);
    if (n === 0) return;
    const seq = this.mismatchSeq;
    let store = await this.getStore();
    if (this.init.options.verifyBeforeServe && !store.complete) await this.fillForServe(signal);
    const end = offset + n;
    const canStream = isStreamable(this.init.upstream);
    let pos = offset;
    while (pos < end) {
      throwIfAborted(signal);
      if (this.closed) throw new CacheClosedError(`cached blob ${this.digest}`);
      store = await this.getStore();
      const cs = store.chunkSize;
      const c = Math.floor(pos / cs);
      const cEnd = Math.ceil(end / cs);
      if (!store.complete) {
        await this.refreshSafe(store, c, cEnd);
        store = await this.getStore();
      }
      let e = c;
      if (store.has(c)) {
        while (e < cEnd && store.has(e)) e++;
        const at = await this.pipeStored(store, pos, Math.min(end, e * cs), sink, signal);
        if (at > pos) {
          pos = at;
          continue;
        }
        // Not stored after all (evicted meanwhile): an ordinary read below.
      }
      const streamable = (a: number) => {
        let b = a;
        while (b < cEnd && !store.has(b) && !this.inflight.has(b)) b++;
        return canStream && store.kind === 'disk' && Math.min(this.size, b * cs) - a * cs >= DEFAULT_STREAM_MIN_BYTES ? b : a;
      };
      e = store.has(c) ? c : streamable(c);
      if (e > c) {
        const to = await this.streamMissing(store, c, e, pos, Math.min(end, e * cs), sink, signal, PRIORITY_USER);
        if (this.init.options.stats) this.init.options.stats.cacheMissBytes += to - pos;
        if (to > pos) {
          pos = to;
          continue;
        }
        // Another process claimed its start: an ordinary read waits for that process's bytes.
      }
      // A piece of ordinary reads, cut where a streamable run starts.
      let stop = Math.min(cEnd, Math.floor((pos + STORED_PIECE_BYTES) / cs));
      for (let k = c + 1; k < stop; k++) {
        if (!store.has(k) && (store.has(k - 1) || this.inflight.has(k - 1)) && streamable(k) > k) {
          stop = k;
          break;
        }
      }
      const to = Math.min(end, Math.max(stop, c + 1) * cs);
      const bytes = await this.readSlow(pos, to - pos, signal);
      const r = sink(bytes);
      if (r) await r;
      pos = to;
    }
    if (store.kind === 'disk' && !store.complete && store.presentCount + this.writingChunks >= store.chunkCount) {
      await this.writesDone();
      if (store.presentCount === store.chunkCount) await this.completeOnce();
    }
    this.throwIfMismatchSince(seq);
    store.touch();
  }

  /** Streams present bytes `[pos, to)` from the store (two reads in flight); returns where it got to. */
  private async pipeStored(store: ChunkStore, pos: number, to: number, sink: ChunkSink, signal: AbortSignal | undefined): Promise<number> {
    const reads: Promise<Uint8Array | null>[] = [];
    let next = pos;
    const issue = () => {
      // Pieces end on multiples of the piece size (page-aligned reads after the first).
      const n = Math.min(to, (Math.floor(next / STORED_PIECE_BYTES) + 1) * STORED_PIECE_BYTES) - next;
      const out = allocOut(n);
      const r = store.read(next, n, out, 0).then(
        () => out,
        (err) => {
          if (err instanceof StoreMissError) return null;
          throw err;
        },
      );
      r.catch(() => {}); // awaited in order below
      reads.push(r);
      next += n;
    };
    while (pos < to) {
      throwIfAborted(signal);
      while (reads.length < 2 && next < to) issue();
      const bytes = await reads.shift()!;
      if (!bytes) break; // no longer stored (evicted from memory, store retired): re-plan
      this.countHit(bytes.byteLength);
      const r = sink(bytes);
      if (r) await r;
      pos += bytes.byteLength;
    }
    return pos;
  }

  /**
   * Streams missing chunks `[c0, c1)` from the upstream in a scheduler slot (see streamRun),
   * handing `[from, to)` to `sink`. Returns the offset `sink` got its bytes up to.
   */
  private async streamMissing(
    store: ChunkStore,
    c0: number,
    c1: number,
    from: number,
    to: number,
    sink: ChunkSink | undefined,
    signal: AbortSignal | undefined,
    priority: number,
    onProgress?: () => void,
  ): Promise<number> {
    const ac = new AbortController();
    const runSignal = signal ? AbortSignal.any([signal, ac.signal]) : ac.signal;
    const upstream = this.init.upstream as StreamableSource;
    const job = new StreamJob(priority, () =>
      this.closed
        ? Promise.reject(new CacheClosedError(`cached blob ${this.digest}`))
        : streamRun(this.streamHost, { store, upstream, c0, c1, from, to, priority, signal: runSignal, ...(sink ? { sink } : {}), ...(onProgress ? { onProgress } : {}) }),
    );
    this.streams.add(ac);
    this.scheduler.enqueue(job);
    try {
      const at = await (signal ? raceAbort(job.promise, signal) : job.promise);
      await this.afterWrite(store).catch((err) => debug('%s: %s', this.digest, (err as Error).message));
      return at;
    } finally {
      this.streams.delete(ac);
      if (job.state === 'queued') {
        this.scheduler.cancelWhere((j) => j === job);
        job.cancel(new AbortedError({ cause: signal?.reason }));
      }
    }
  }

  private fillForServe(signal: AbortSignal | undefined): Promise<void> {
    this.filling ??= this.fill().finally(() => (this.filling = null));
    return signal ? raceAbort(this.filling, signal) : this.filling;
  }

  private async refreshSafe(store: ChunkStore, c0: number, c1: number): Promise<void> {
    try {
      await store.refresh(c0, c1);
    } catch (err) {
      if (!(err instanceof CacheCorruptError)) throw err;
      debug('%s: %s; discarding the instance', this.digest, err.message);
      await store.discard(err.message);
      this.resetStore(store);
    }
  }

  private async getStore(): Promise<ChunkStore> {
    if (this.store && !(this.fallbackUntil > 0 && Date.now() > this.fallbackUntil)) return this.store;
    this.storeOpening ??= this.openStore().finally(() => (this.storeOpening = null));
    return this.storeOpening;
  }

  private async openStore(): Promise<ChunkStore> {
    if (this.closed) throw new CacheClosedError(`cached blob ${this.digest}`);
    let store: ChunkStore;
    try {
      store = await this.init.openStore(this.chunkSizeValue, !this.chunkSizeFixed);
      this.fallbackUntil = 0;
    } catch (err) {
      if (!isNoSpace(err)) throw err;
      debug('%s: no space for a cache instance; serving uncached for now', this.digest);
      if (this.store && this.fallbackUntil > 0) {
        this.fallbackUntil = Date.now() + NO_SPACE_RETRY_MS;
        return this.store;
      }
      store = new MemoryStore(new MemoryPool(0), this.size, this.chunkSizeValue);
      this.fallbackUntil = Date.now() + NO_SPACE_RETRY_MS;
    }
    if (!this.chunkSizeFixed) {
      this.chunkSizeValue = store.chunkSize;
      this.chunkSizeFixed = true;
    }
    const old = this.store;
    this.store = store;
    if (old && old !== store) {
      old.retire();
      this.generation++;
    }
    return store;
  }

  /** Stops using `store` (evicted, discarded, corrupt); the next operation opens a fresh one. */
  resetStore(store: ChunkStore | null = this.store): void {
    if (!store) return;
    if (this.store === store) {
      this.store = null;
      this.generation++;
      this.hasher?.dispose();
      this.hasher = null;
      this.carry = null;
    }
    store.retire();
  }

  /** Releases this handle; the last one stops fetching, flushes and closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (--this.refs > 0) return;
    await this.destroy();
  }

  /** Closes every handle at once (the cache is closing). */
  async destroy(): Promise<void> {
    if (this.closed) return;
    this.refs = 0;
    this.closed = true;
    const closedError = new CacheClosedError(`cached blob ${this.digest}`);
    for (const j of this.scheduler.cancelWhere(() => true)) {
      if (j instanceof StreamJob) j.cancel(closedError);
      else this.dropTask(j as FetchTask, []);
    }
    for (const ac of this.streams) ac.abort(closedError);
    for (const t of new Set(this.inflight.values())) t.abort.abort(closedError);
    const store = this.store ?? (await this.storeOpening?.catch(() => null)) ?? null;
    this.completeAtClose = store?.complete ?? false;
    this.store = null;
    await store?.close();
    const spanFile = await this.spanFile?.catch(() => null);
    this.spanFile = undefined;
    await spanFile?.fh.close().catch(() => {});
    for (const opening of this.partialFiles.values()) await (await opening.catch(() => null))?.fh.close().catch(() => {});
    this.partialFiles.clear();
    this.init.onClose?.();
  }
}

function allocOut(n: number): Uint8Array {
  // A plain Uint8Array over memory that is not zero-filled first: every byte is overwritten.
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new AbortedError({ cause: signal.reason }));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError({ cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
