/**
 * Several extractor writer threads (`host-writer.ts`) behind the interface of one: creating
 * files, writing and decoding their content are syscalls and native work that scale with threads,
 * and on a busy machine each runnable thread gets its own share of the CPUs.
 *
 * Routing keeps every ordering rule of a single writer. Each directory gets a thread when its
 * mkdir is pushed (round robin) and is made there; its entries follow on that thread, in push
 * order, as do the pieces of one file. What crosses threads waits explicitly: a directory's mkdir
 * for its parent's when that ran elsewhere (made long before, usually, since a directory is made
 * ahead of its entries), a hardlink for its target's creation (`after`). The threads publish
 * the sequence number of each such operation when done in a shared array and wait on it with
 * `Atomics.wait`; an operation is sent only after everything it waits for was sent, so no
 * thread waits for work still queued here. The first failure in any thread sets a shared abort
 * flag: no thread starts another operation after it (a failed mkdir must never let a file be
 * created through what stands at that name), and threads waiting for a failed one give up.
 *
 * Two entries of one directory with the same name (a corrupt or hostile image) may now be made
 * on different threads, in either order when one is a directory: the second fails (the name
 * exists; with overwrite, a directory is never replaced and a symlink or file in a directory's
 * way is unlinked before mkdir), so an entry is only ever created inside a directory this
 * extraction made.
 *
 * @packageDocumentation
 */
import { abortShared, HostWriter, type HostWriterOptions } from './host-writer.js';
import type { HostOp } from './host-writer-protocol.js';

/** An operation's place: its thread and sequence number there (what `after` waits for). */
export interface Ticket {
  writer: number;
  seq: number;
}

/** Options of {@link HostWriters.start}. */
export interface HostWritersOptions extends Omit<HostWriterOptions, 'shared'> {
  /** Writer threads (1 to 16). */
  threads: number;
}

/** How an operation is pushed. */
export interface PushOptions {
  /** Publish the operation when done, for others to wait for (a hardlink's target). */
  mark?: boolean;
  /** An operation that must be done first (a hardlink's target). */
  after?: Ticket;
}

const parentOf = (path: string) => {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
};

/** Creates host entries on `threads` worker threads (see the module comment for the order kept). */
export class HostWriters {
  /** Sequence number of the last operation pushed to each thread. */
  private readonly seqs: number[];
  /** Each directory made in this extraction: the thread its entries go to, and its mkdir. */
  private readonly dirs = new Map<string, { writer: number; mkdir?: Ticket }>();
  /** The thread of each open large file. */
  private readonly handles = new Map<number, number>();
  private nextDirWriter = 0;

  private constructor(
    private readonly writers: HostWriter[],
    private readonly progress: SharedArrayBuffer | undefined,
  ) {
    this.seqs = writers.map(() => 0);
    this.dirs.set('', { writer: 0 });
  }

  /** Starts the threads. */
  static async start(options: HostWritersOptions): Promise<HostWriters> {
    const n = options.threads;
    if (n === 1) return new HostWriters([await HostWriter.start(options)], undefined);
    const progress = new SharedArrayBuffer(4 * (n + 1));
    // Each thread gets its share of the in-flight byte budget.
    const maxInFlightBytes = Math.max(4 * 1024 * 1024, Math.floor((options.maxInFlightBytes ?? 64 * 1024 * 1024) / n));
    const writers: HostWriter[] = [];
    try {
      for (let i = 0; i < n; i++)
        writers.push(await HostWriter.start({ ...options, maxInFlightBytes, shared: { progress, index: i } }));
    } catch (err) {
      await Promise.all(writers.map((w) => w.close().catch(() => {})));
      throw err;
    }
    return new HostWriters(writers, progress);
  }

  /** Encodings `copy` spans may have (every thread can decode the same ones). */
  get encodings(): readonly string[] {
    return this.writers[0].encodings;
  }

  /** True once an operation failed on any thread. */
  get failed(): boolean {
    return this.writers.some((w) => w.failed);
  }

  /** The first failure (one that is not only "another thread failed"), if any. */
  get failure(): unknown {
    const failed = this.writers.filter((w) => w.failed);
    return (failed.find((w) => !w.failureIsSecondary) ?? failed[0])?.failure;
  }

  /** Queues an operation on the thread its directory (or file) belongs to; returns its ticket. */
  push(op: HostOp, options: PushOptions = {}): Ticket {
    if (this.failed) throw this.failure;
    const n = this.writers.length;
    let w: number;
    let waitFor: Ticket | undefined;
    if (op.op === 'write' || op.op === 'close') {
      w = this.handles.get(op.handle) ?? 0;
      if (op.op === 'close') this.handles.delete(op.handle);
    } else if (op.op === 'mkdir' && !this.dirs.has(op.path)) {
      // A new directory gets its thread now, and is made there, ahead of its entries; it waits
      // for its parent's mkdir only (long done, usually) when that ran on another thread.
      w = this.nextDirWriter;
      this.nextDirWriter = (this.nextDirWriter + 1) % n;
      waitFor = this.dirs.get(parentOf(op.path))?.mkdir;
    } else {
      w = this.dirs.get(parentOf(op.path))?.writer ?? 0;
      if (op.op === 'open') this.handles.set(op.handle, w);
    }
    if (n === 1) {
      this.writers[0].push(op);
      const ticket = { writer: 0, seq: ++this.seqs[0] };
      if (op.op === 'mkdir' && !this.dirs.has(op.path)) this.dirs.set(op.path, { writer: 0, mkdir: ticket });
      return ticket;
    }
    const after: [number, number][] = [];
    for (const t of [waitFor, options.after]) {
      if (t === undefined || t.writer === w) continue;
      // What it waits for must be on its way before it is.
      if (t.seq > this.seqs[t.writer] - this.writers[t.writer].unsentOps) this.writers[t.writer].sendNow();
      after.push([t.writer, t.seq]);
    }
    const seq = ++this.seqs[w];
    const mark = op.op === 'mkdir' || options.mark === true;
    this.writers[w].push(op, { seq, ...(mark ? { mark } : {}), ...(after.length > 0 ? { after } : {}) });
    const ticket = { writer: w, seq };
    if (op.op === 'mkdir' && !this.dirs.has(op.path)) this.dirs.set(op.path, { writer: w, mkdir: ticket });
    return ticket;
  }

  /** True when {@link room} would wait (or throw). */
  get full(): boolean {
    return this.writers.some((w) => w.full);
  }

  /** Waits while too many file bytes or batches are on their way to disk; throws the first failure. */
  async room(): Promise<void> {
    try {
      await Promise.all(this.writers.map((w) => w.room()));
    } catch {
      throw this.failure;
    }
  }

  /** Sends what is queued and waits until every thread is done with it; throws the first failure. */
  async flush(): Promise<void> {
    await Promise.allSettled(this.writers.map((w) => w.flush()));
    if (this.failed) throw this.failure;
  }

  /** Drops what is not sent, waits for what is, ends the threads. */
  async close(): Promise<void> {
    // Work not done by now is dropped: no thread may wait for any of it (nor start more).
    if (this.progress) abortShared(this.progress);
    await Promise.all(this.writers.map((w) => w.close()));
  }
}
