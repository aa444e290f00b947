/**
 * One upstream download of a run of chunks, shared by every read that needs one of them
 * (single-flight): readers await its pieces instead of starting their own request.
 *
 * @packageDocumentation
 */
import type { Job } from './scheduler.js';

/** Bytes a task fetched: `bytes` are the blob's bytes at `offset`. */
export interface Piece {
  offset: number;
  bytes: Uint8Array;
}

/** A queued or running download of chunks `[c0, c1)`. */
export class FetchTask implements Job {
  state: 'queued' | 'running' | 'done' = 'queued';
  /** Readers currently waiting for it. */
  waiters = 0;
  readonly abort = new AbortController();
  /** Settles with the fetched pieces (possibly none: the chunks arrived another way, re-check). */
  readonly promise: Promise<Piece[]>;
  private resolveFn!: (p: Piece[]) => void;
  private rejectFn!: (e: unknown) => void;
  settled = false;
  private pieces: Piece[] | undefined;
  private lazyPieces: (() => Piece[]) | undefined;

  constructor(
    readonly c0: number,
    readonly c1: number,
    public priority: number,
    private readonly body: (task: FetchTask) => Promise<void>,
  ) {
    this.promise = new Promise<Piece[]>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    // Readahead tasks may fail with nobody listening; readers attach their own handlers.
    this.promise.catch(() => {});
  }

  run(): Promise<void> {
    return this.body(this);
  }

  /** The pieces, once finished successfully (built on first use when given lazily). */
  get result(): Piece[] | undefined {
    if (this.lazyPieces) {
      this.pieces = this.lazyPieces();
      this.lazyPieces = undefined;
    }
    return this.pieces;
  }

  /**
   * Settles with the pieces. Given as a function (a streamed batch, whose bytes are network
   * chunks that would have to be joined), they are only built for readers that need them: the
   * waiters now, or a later reader through {@link result}; the promise gives idle tasks none.
   */
  finish(pieces: Piece[] | (() => Piece[])): void {
    if (this.settled) return;
    this.settled = true;
    if (typeof pieces === 'function') this.lazyPieces = pieces;
    else this.pieces = pieces;
    this.resolveFn(typeof pieces === 'function' && this.waiters === 0 ? [] : this.result!);
  }

  fail(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.rejectFn(err);
  }
}

/** Chunk → the task fetching it in this process: how a read joins a download under way. */
export class InflightTable {
  private readonly byChunk = new Map<number, FetchTask>();

  /** The task fetching chunk `c`, if any. */
  get(c: number): FetchTask | undefined {
    return this.byChunk.get(c);
  }

  /** True when a task is fetching chunk `c`. */
  has(c: number): boolean {
    return this.byChunk.has(c);
  }

  /** Registers `task` as the fetcher of its chunks. */
  add(task: FetchTask): void {
    for (let c = task.c0; c < task.c1; c++) this.byChunk.set(c, task);
  }

  /** Removes `task` (where it is still registered) and settles it with `pieces`. */
  drop(task: FetchTask, pieces: Piece[]): void {
    this.remove(task);
    task.finish(pieces);
  }

  /** Removes `task` (where it is still registered) and rejects it with `err`. */
  fail(task: FetchTask, err: unknown): void {
    this.remove(task);
    task.fail(err);
  }

  /** Every registered task. */
  tasks(): Set<FetchTask> {
    return new Set(this.byChunk.values());
  }

  private remove(task: FetchTask): void {
    for (let c = task.c0; c < task.c1; c++) if (this.byChunk.get(c) === task) this.byChunk.delete(c);
  }
}
