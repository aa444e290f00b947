/**
 * {@link Fetcher}: gets a cached source's missing chunks from its upstream.
 *
 * - Missing chunks are fetched in runs: adjacent missing chunks form one upstream read, capped
 *   at `maxRequestBytes`; a large run is split over up to `parallelism` concurrent reads, cut at
 *   claim-block boundaries ({@link Fetcher.ensure}).
 * - A chunk being fetched is in the in-flight table: a second read needing it waits for the
 *   same task (single-flight).
 * - Other processes are coordinated through the store's claim files: a block another process
 *   is downloading is waited for outside the request slot.
 * - Sequential reads trigger readahead at a lower priority; random reads cancel it.
 * - A long missing run can be streamed instead ({@link Fetcher.stream}, `stream-fetch.ts`).
 *
 * @packageDocumentation
 */
import { debuglog } from '../io/debug-log.js';
import { AbortedError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { raceAbort } from './abort.js';
import { chunkRuns, chunkRunsBy, type ChunkRun } from './chunk-runs.js';
import type { DerivedMark } from './derived-mark.js';
import { CacheClosedError, UpstreamShortReadError } from './errors.js';
import { FetchTask, type Piece } from './fetch-task.js';
import { DEFAULT_MIN_SPLIT_BYTES, type ResolvedSourceOptions } from './options.js';
import { Readahead } from './readahead.js';
import { waitForeignBlock } from './remote-wait.js';
import { PRIORITY_READAHEAD, PRIORITY_USER, Scheduler, type Job } from './scheduler.js';
import type { SourceParts } from './source-parts.js';
import type { ChunkStore } from './store.js';
import { StreamJob, StreamRun, type StreamRunParams } from './stream-fetch.js';
import type { StreamableSource } from './streaming.js';

const debug = debuglog('ocifs:cache');

/** One streamed run asked of {@link Fetcher.stream}: the run's chunks, what goes to a sink, at what priority. */
export type StreamAsk = Omit<StreamRunParams, 'store' | 'upstream' | 'signal'> & { signal: AbortSignal | undefined };

/** The upstream requests of one cached source. */
export class Fetcher {
  private readonly scheduler: Scheduler;
  private readahead: Readahead | null = null;
  /** Running streamed fetches (aborted on shutdown). */
  private readonly streams = new Set<AbortController>();

  constructor(
    private readonly parts: SourceParts,
    private readonly upstream: ByteSource,
    private readonly options: ResolvedSourceOptions,
    private readonly mark: DerivedMark,
  ) {
    this.scheduler = new Scheduler(options.parallelism);
  }

  /**
   * Makes sure every chunk of `[c0, c1)` that is neither readable nor `skip`ped is being
   * fetched; returns the tasks to wait for (joined and new).
   */
  ensure(store: ChunkStore, c0: number, c1: number, priority: number, skip?: (c: number) => boolean): FetchTask[] {
    const { inflight } = this.parts;
    const out = new Set<FetchTask>();
    const need = (c: number) => (skip?.(c) || store.has(c) ? undefined : (inflight.get(c) ?? 'missing'));
    for (const run of chunkRunsBy(c0, c1, need)) {
      if (run.key === 'missing') for (const t of this.planRun(store, run.start, run.end, priority)) out.add(t);
      else {
        out.add(run.key);
        this.scheduler.promote(run.key, priority);
      }
    }
    return [...out];
  }

  /** Splits a missing run into tasks: at most maxRequestBytes each, spread over the parallel slots. */
  private planRun(store: ChunkStore, a: number, b: number, priority: number): FetchTask[] {
    const cs = this.parts.slot.chunkSize;
    const opts = this.options;
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
    for (let s = a; s < b;) {
      let e = Math.min(b, s + per);
      // Cut at claim-block boundaries so parallel tasks do not share a claim file.
      if (e < b && block > 1 && block <= per) {
        const aligned = Math.floor(e / block) * block;
        if (aligned > s) e = aligned;
      }
      const task = new FetchTask(s, e, priority, (t) => this.runTask(t));
      this.parts.inflight.add(task);
      tasks.push(task);
      this.scheduler.enqueue(task);
      s = e;
    }
    return tasks;
  }

  /** Waits for tasks on behalf of one reader; an aborted reader withdraws (and cancels queued tasks nobody wants). */
  async waitTasks(tasks: FetchTask[], signal: AbortSignal | undefined): Promise<Piece[]> {
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
          this.parts.inflight.drop(t, []);
        }
      }
    }
  }

  /**
   * Fetches the missing chunks of `runs`, each as tasks of at most maxRequestBytes, a few at a
   * time, calling `report` as each settles.
   */
  async fill(
    store: ChunkStore,
    runs: readonly ChunkRun[],
    priority: number,
    signal: AbortSignal | undefined,
    report: () => void,
  ): Promise<void> {
    const maxChunks = Math.max(1, Math.floor(this.options.maxRequestBytes / store.chunkSize));
    const window = this.options.parallelism * 2;
    const active: Promise<unknown>[] = [];
    for (const [a, b] of runs) {
      for (const [c, e] of chunkRuns(a, b, (k) => !store.has(k), maxChunks)) {
        const tasks = this.ensure(store, c, e, priority);
        const p = this.waitTasks(tasks, signal).then(report);
        p.catch(() => {}); // awaited below; do not let a later one reject unobserved meanwhile
        active.push(p);
        if (active.length >= window) await active.shift();
      }
    }
    await Promise.all(active);
  }

  /**
   * Runs in a scheduler slot: claim, fetch, hand the bytes to the waiting readers, write them.
   * Waiting for other processes' downloads happens after the slot is freed.
   */
  private async runTask(task: FetchTask): Promise<void> {
    const { slot, writer, verifier, inflight } = this.parts;
    const held: number[] = [];
    const durables: Promise<boolean>[] = [];
    let store: ChunkStore | undefined;
    let writing = 0;
    try {
      if (slot.closed) throw new CacheClosedError(`cached blob ${this.parts.digest}`);
      store = await slot.get();
      const s = store;
      const { c0, c1 } = task;
      const cs = slot.chunkSize;
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
      await slot.refresh(store, c0, c1);
      const pieces: Piece[] = [];
      await this.readRuns(
        chunkRuns(c0, c1, (c) => mine[c - c0] === 1 && !s.has(c)),
        task.abort.signal,
        pieces,
      );
      // On disk, readers get the bytes now; writing (and, later, flushing) them is not their
      // concern. Until written, the chunks stay in flight, so new readers join this task.
      // In memory mode the write is instant and the hash must be checked first.
      const early = foreign.length === 0 && store.kind === 'disk';
      if (early) {
        task.finish(pieces);
        for (const p of pieces) writing += Math.ceil(p.bytes.byteLength / cs);
        writer.handedOut(writing);
      }
      for (const p of pieces) {
        const w = await writer.writeAndHash(store, p.offset, p.bytes);
        if (w) durables.push(w.durable);
        if (early) {
          const k = Math.ceil(p.bytes.byteLength / cs);
          writing -= k;
          writer.settled(k, false);
        }
      }
      await verifier.afterWrite(store);
      if (foreign.length === 0) {
        inflight.drop(task, pieces);
      } else {
        // Free the slot; wait for the other processes' downloads outside it.
        const maxWait = this.options.claimStaleMs * 3;
        void Promise.all(foreign.map((b) => waitForeignBlock(s, b, c0, c1, task.abort.signal, maxWait)))
          .then(async (ok) => {
            // An owner alive but stuck for long: fetch for our readers, without writing (not our claim).
            if (ok.includes(false)) {
              this.mark.invalidate();
              const what = `claims ${foreign.join(',')} held too long by a live process`;
              debug('%s: %s; fetching without caching', this.parts.digest, what);
              await s.refresh(c0, c1);
              await this.readRuns(
                chunkRuns(c0, c1, (c) => mine[c - c0] === 0 && !s.has(c)),
                task.abort.signal,
                pieces,
              );
            }
            inflight.drop(task, pieces);
          })
          .catch((err: unknown) => inflight.fail(task, err));
      }
    } catch (err) {
      writer.settled(writing, false);
      inflight.fail(task, err);
    } finally {
      writer.wake();
      if (store?.claims && held.length > 0) {
        const claims = store.claims;
        // Other processes trust the map only, so the claim stays until our marks are on disk.
        void Promise.all(durables).finally(() => Promise.all(held.map((b) => claims.release(b))));
      }
    }
  }

  /** Reads each run of chunks from the upstream into `into`, checking that every byte came. */
  private async readRuns(runs: Iterable<ChunkRun>, signal: AbortSignal, into: Piece[]): Promise<void> {
    const cs = this.parts.slot.chunkSize;
    for (const [c, e] of runs) {
      const off = c * cs;
      const len = Math.min(this.parts.size, e * cs) - off;
      const bytes = await this.upstream.read(off, len, { signal });
      if (bytes.byteLength !== len) throw new UpstreamShortReadError(this.parts.digest, off, len, bytes.byteLength);
      into.push({ offset: off, bytes });
    }
  }

  /** Records a read for readahead: fetches ahead of a sequential reader, cancels queued readahead on random access. */
  observe(store: ChunkStore, offset: number, n: number, limit: number | undefined): void {
    const ra = this.options.readahead;
    if (!ra || this.parts.slot.closed) return;
    const cs = this.parts.slot.chunkSize;
    this.readahead ??= new Readahead(this.parts.size, cs, ra.initialBytes, ra.maxBytes);
    const d = this.readahead.observe(offset, n, limit);
    if (d.kind === 'cancel') {
      const unwanted = (t: Job) => t.priority === PRIORITY_READAHEAD && t instanceof FetchTask && t.waiters === 0;
      for (const j of this.scheduler.cancelWhere(unwanted)) if (j instanceof FetchTask) this.parts.inflight.drop(j, []);
    } else if (d.kind === 'fetch') {
      this.ensure(store, Math.floor(d.start / cs), Math.ceil(d.end / cs), PRIORITY_READAHEAD);
    }
  }

  /**
   * Streams missing chunks `[c0, c1)` from the upstream in a scheduler slot (see
   * {@link StreamRun}), handing `[from, to)` to `sink`. Returns the offset `sink` got its bytes up to.
   */
  async stream(store: ChunkStore, ask: StreamAsk): Promise<number> {
    const { signal } = ask;
    const ac = new AbortController();
    const runSignal = signal ? AbortSignal.any([signal, ac.signal]) : ac.signal;
    const upstream = this.upstream as StreamableSource;
    const params = { ...ask, store, upstream, signal: runSignal };
    const job = new StreamJob(ask.priority, () => {
      if (this.parts.slot.closed) return Promise.reject(new CacheClosedError(`cached blob ${this.parts.digest}`));
      return new StreamRun(this.parts, params).run();
    });
    this.streams.add(ac);
    this.scheduler.enqueue(job);
    try {
      const at = await (signal ? raceAbort(job.promise, signal) : job.promise);
      await this.parts.verifier
        .afterWrite(store)
        .catch((err: unknown) => debug('%s: %s', this.parts.digest, (err as Error).message));
      return at;
    } finally {
      this.streams.delete(ac);
      if (job.state === 'queued') {
        this.scheduler.cancelWhere((j) => j === job);
        job.cancel(new AbortedError({ cause: signal?.reason }));
      }
    }
  }

  /**
   * Stops everything (the source closed): queued work is cancelled, running downloads and
   * streams are aborted with `reason`.
   */
  shutdown(reason: Error): void {
    for (const j of this.scheduler.cancelWhere(() => true)) {
      if (j instanceof StreamJob) j.cancel(reason);
      else if (j instanceof FetchTask) this.parts.inflight.drop(j, []);
    }
    for (const ac of this.streams) ac.abort(reason);
    for (const t of this.parts.inflight.tasks()) t.abort.abort(reason);
  }
}
