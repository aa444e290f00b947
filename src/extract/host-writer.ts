/**
 * The extractor's writer: a worker thread that creates the host entries in the order they are
 * pushed, in batches (see `host-writer-worker.ts`). One thread doing the syscalls in order —
 * like `fsck.erofs --extract` — while the event loop reads and decompresses the image: two cores
 * busy, no libuv round trip per syscall, a parent directory always made before its children and
 * a hardlink after its target. Memory is bounded by `maxInFlightBytes` of file data and
 * `maxPendingBatches` batches of operations sent and not yet done.
 *
 * @packageDocumentation
 */
import { createRequire } from 'node:module';
import { debuglog } from '../io/debug-log.js';
import type { Worker } from 'node:worker_threads';
import { startWorker, workerFile } from '../io/worker-file.js';
import { ContentDecodeError, ExtractConflictError, ExtractIoError } from './errors.js';
import type {
  FromHostWriter,
  HostMeta,
  HostOp,
  HostWriterData,
  OpOrder,
  ToHostWriter,
  WireMeta,
  WireOp,
} from './host-writer-protocol.js';
import { UNSUPPORTED_ERRNOS } from './host-ops.js';

/** Options of {@link HostWriter.start}. */
export interface HostWriterOptions {
  /** The directory every operation's path is relative to (absolute, real). */
  dest: string;
  /** Running as root (error messages mention it when an owner cannot be set). */
  isRoot: boolean;
  /** Operations per batch (default 256). */
  maxBatchOps?: number;
  /** File bytes per batch (default 4 MiB). */
  maxBatchBytes?: number;
  /** File bytes sent and not yet written before `room()` waits (default 64 MiB). */
  maxInFlightBytes?: number;
  /**
   * Batches sent and not yet done before `room()` waits (default 16). Operations without file
   * bytes (copies from local files, directories, links) would otherwise pile up without limit
   * when the thread is the slower side: the queue of a whole tree, in memory.
   */
  maxPendingBatches?: number;
  /** Called when a batch is done, with the bytes and files it completed. */
  onDone?: (bytes: number, files: number) => void;
  /** Called for each thing the host could not keep. */
  onWarning?: (kind: string, path: string, message: string) => void;
  /**
   * Set by {@link HostWriters} when several threads write: the shared progress array (an
   * abort flag, then each thread's last marked sequence number) and this thread's index in it.
   */
  shared?: { progress: SharedArrayBuffer; index: number };
}

const log = debuglog('ocifs:extract');

const require = createRequire(import.meta.url);

/**
 * The lz4-napi module for the thread to decode `lz4-block` spans with (the decoder the EROFS
 * reader uses for full cluster decodes), unless it does not load here or OCIFS_LZ4_NATIVE=0
 * turned it off (then such content is read, and decoded, through the reader).
 */
function nativeLz4Module(): string {
  if (process.env.OCIFS_LZ4_NATIVE === '0') return '';
  try {
    const path = require.resolve('lz4-napi');
    return typeof (require(path) as { uncompressSync?: unknown }).uncompressSync === 'function' ? path : '';
  } catch {
    return '';
  }
}

/** Sets the abort flag of a shared progress array and wakes every thread waiting on it. */
export function abortShared(progress: SharedArrayBuffer): void {
  const p = new Int32Array(progress);
  Atomics.store(p, 0, 1);
  for (let i = 1; i < p.length; i++) Atomics.notify(p, i);
}

/** Metadata as it travels in a batch's JSON: xattr values as base64. */
function wireMeta(meta: HostMeta): WireMeta {
  if (!meta.xattrs) return meta as WireMeta;
  const { xattrs, ...rest } = meta;
  return {
    ...rest,
    xattrs: xattrs.map(([k, v]) => [k, Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')]),
  };
}

/** Creates host entries on a worker thread, in push order. */
export class HostWriter {
  private ops: WireOp[] = [];
  private chunks: Uint8Array[] = [];
  private batchBytes = 0;
  private nextId = 1;
  private readonly pending = new Map<number, number>();
  private inFlight = 0;
  private error: unknown;
  /** The failure only says that another writer thread failed first. */
  private errorIsSecondary = false;
  private waiters: (() => void)[] = [];
  private closed = false;
  private dead = false;
  /** Batch buffers back from the thread, for reuse. */
  private readonly free: ArrayBuffer[] = [];
  private readonly maxOps: number;
  private readonly maxBatchBytes: number;
  private readonly maxInFlight: number;
  private readonly maxPending: number;

  private constructor(
    private readonly worker: Worker,
    private readonly options: HostWriterOptions,
    /** Encodings `copy` spans may have (see `EncodedSpan`): `lz4-block` when lz4-napi loads here. */
    readonly encodings: readonly string[],
  ) {
    this.maxOps = options.maxBatchOps ?? 256;
    this.maxBatchBytes = options.maxBatchBytes ?? 4 * 1024 * 1024;
    this.maxInFlight = Math.max(options.maxInFlightBytes ?? 64 * 1024 * 1024, this.maxBatchBytes);
    this.maxPending = Math.max(1, options.maxPendingBatches ?? 16);
    worker.on('message', (r: FromHostWriter) => this.onReply(r));
    worker.on('error', (err) => this.die(err));
    worker.on('exit', (code) => this.die(new Error(`exited with code ${code}`)));
  }

  /** Starts the writer thread. */
  static async start(options: HostWriterOptions): Promise<HostWriter> {
    let xattrModule = '';
    try {
      xattrModule = require.resolve('@napi-rs/xattr');
    } catch {
      // The thread reports each xattr it cannot set as a warning.
    }
    const lz4Module = nativeLz4Module();
    const file = workerFile(new URL('./host-writer-worker.js', import.meta.url));
    if (!file)
      throw new ExtractIoError(
        '(writer thread)',
        'start',
        new Error(`no host-writer-worker file beside ${import.meta.url}`),
      );
    const workerData: HostWriterData = {
      xattrModule,
      lz4Module,
      dest: options.dest,
      isRoot: options.isRoot,
      unsupported: [...UNSUPPORTED_ERRNOS],
      progress: options.shared?.progress,
      index: options.shared?.index ?? 0,
    };
    // No flags of the parent (`--input-type=module`, loaders, --inspect) reach the thread.
    const worker = startWorker(file, { execArgv: [], workerData, stdout: false, stderr: false });
    return new HostWriter(worker, options, lz4Module ? ['lz4-block'] : []);
  }

  /** True once an operation failed; the failure is thrown by the next `room`/`flush`. */
  get failed(): boolean {
    return this.error !== undefined;
  }

  /** The first failure, if any. */
  get failure(): unknown {
    return this.error;
  }

  /** True when the failure only reports that another writer thread failed first. */
  get failureIsSecondary(): boolean {
    return this.errorIsSecondary;
  }

  /** Operations queued and not yet sent. */
  get unsentOps(): number {
    return this.ops.length;
  }

  /** Queues an operation (sent when the batch is full or on `flush`); `order` is for {@link HostWriters}. */
  push(op: HostOp, order?: OpOrder): void {
    if (this.failed) throw this.failure;
    if (this.closed) throw new ExtractIoError('(writer thread)', 'push', new Error('the writer is closed'));
    // As it travels (WireOp): xattr values in base64, file bytes in the batch's buffer.
    let wire = op as unknown as WireOp;
    if ('meta' in op && op.meta.xattrs) wire = { ...op, meta: wireMeta(op.meta) } as unknown as WireOp;
    if ('bytes' in op) {
      const { bytes, ...rest } = wire as unknown as typeof op;
      wire = { ...rest, offset: this.batchBytes, length: bytes.byteLength } as WireOp;
      this.chunks.push(bytes);
      this.batchBytes += bytes.byteLength;
    }
    if (order !== undefined) wire = { ...wire, ...order };
    this.ops.push(wire);
    if (this.ops.length >= this.maxOps || this.batchBytes >= this.maxBatchBytes) this.send();
  }

  /** Sends what is queued now (an operation of another thread waits for one of them). */
  sendNow(): void {
    if (this.error === undefined && this.ops.length > 0) this.send();
  }

  /** True when {@link room} would wait (or throw): checking first saves an await per entry. */
  get full(): boolean {
    return this.error !== undefined || this.bytesFull || this.pending.size >= this.maxPending;
  }

  private get bytesFull(): boolean {
    return this.inFlight + this.batchBytes > this.maxInFlight;
  }

  /** Waits while too many file bytes or batches are on their way to disk; throws the first failure. */
  async room(): Promise<void> {
    while (this.error === undefined && this.full) {
      // Bytes queued here with nothing on its way: send them (nothing else would).
      if (this.bytesFull && this.ops.length > 0 && this.inFlight === 0) this.send();
      else await new Promise<void>((r) => this.waiters.push(r));
    }
    if (this.failed) throw this.failure;
  }

  /** Sends what is queued and waits until everything sent is done; throws the first failure. */
  async flush(): Promise<void> {
    if (this.error === undefined && this.ops.length > 0) this.send();
    while (this.pending.size > 0) await new Promise<void>((r) => this.waiters.push(r));
    if (this.failed) throw this.failure;
  }

  /** Drops what is not sent, waits for what is, closes files left open, ends the thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.ops = [];
    this.chunks = [];
    this.batchBytes = 0;
    while (this.pending.size > 0) await new Promise<void>((r) => this.waiters.push(r));
    if (!this.dead) {
      const id = this.nextId++;
      this.pending.set(id, 0);
      this.post({ id, closeAll: true });
      while (this.pending.has(id)) await new Promise<void>((r) => this.waiters.push(r));
    }
    this.closed = true;
    await this.worker.terminate();
  }

  /** The thread crashed or ended: nothing sent will be answered. */
  private die(err: unknown): void {
    if (this.dead) return;
    this.dead = true;
    this.pending.clear();
    this.inFlight = 0;
    if (!this.closed) this.fail(new ExtractIoError('(writer thread)', 'run', err));
    // Other writer threads waiting for this one must not wait forever.
    const shared = this.options.shared;
    if (shared && !this.closed) abortShared(shared.progress);
    this.wake();
  }

  private send(): void {
    const id = this.nextId++;
    if (this.batchBytes === 0) {
      // Nothing but operations (copies, directories, links …): no buffer to move.
      this.pending.set(id, 0);
      this.post({ id, ops: JSON.stringify(this.ops), length: 0 });
      this.ops = [];
      this.chunks = [];
      return;
    }
    // One copy into a buffer that is transferred (a view into a reader's cache is never cloned
    // whole) and comes back with the reply, so batches reuse a few buffers instead of
    // allocating, zero-filling and faulting in new ones.
    let buffer = this.free.pop();
    if (!buffer || buffer.byteLength < this.batchBytes)
      buffer = new ArrayBuffer(Math.max(this.batchBytes, this.maxBatchBytes * 2));
    const data = new Uint8Array(buffer, 0, this.batchBytes);
    let at = 0;
    for (const c of this.chunks) {
      data.set(c, at);
      at += c.byteLength;
    }
    this.pending.set(id, this.batchBytes);
    this.inFlight += this.batchBytes;
    // Operations go as one JSON string: cheaper to copy than a structured clone of small objects.
    this.post({ id, ops: JSON.stringify(this.ops), data: buffer, length: this.batchBytes }, [buffer]);
    this.ops = [];
    this.chunks = [];
    this.batchBytes = 0;
  }

  private post(m: ToHostWriter, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(m, transfer);
  }

  private onReply(r: FromHostWriter): void {
    // Which side an extraction waits on: a writer busy nearly all the time is the bottleneck.
    if (r.busyMs !== undefined)
      log(
        'writer thread %d: busy %s s, waiting for work %s s',
        this.options.shared?.index ?? 0,
        (r.busyMs / 1000).toFixed(3),
        ((r.idleMs ?? 0) / 1000).toFixed(3),
      );
    if (r.data && this.free.length < 32) this.free.push(r.data);
    this.inFlight -= this.pending.get(r.id) ?? 0;
    this.pending.delete(r.id);
    for (const w of r.warnings) this.options.onWarning?.(w.kind, w.path, w.message);
    if (r.bytes > 0 || r.files > 0) this.options.onDone?.(r.bytes, r.files);
    if (r.error) {
      const e = r.error;
      const cause = Object.assign(new Error(e.message), { code: e.errno });
      if (e.kind === 'twice')
        this.fail(new ExtractConflictError(e.path, 'already exists (the image names it twice)', { cause }));
      else if (e.kind === 'dir-conflict') this.fail(new ExtractConflictError(e.path, e.message));
      else if (e.kind === 'corrupt') this.fail(new ContentDecodeError(e.path, e.message, { cause }));
      else if (e.kind === 'dep') this.fail(new ExtractIoError(e.path, e.operation, cause), true);
      else this.fail(new ExtractIoError(e.path, e.operation, cause));
    }
    this.wake();
  }

  private fail(err: unknown, secondary = false): void {
    if (this.error === undefined) {
      this.error = err;
      this.errorIsSecondary = secondary;
    }
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
