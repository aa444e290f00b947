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
  /** The pieces, once finished successfully. */
  result: Piece[] | undefined;

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

  finish(pieces: Piece[]): void {
    if (this.settled) return;
    this.settled = true;
    this.result = pieces;
    this.resolveFn(pieces);
  }

  fail(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.rejectFn(err);
  }
}
