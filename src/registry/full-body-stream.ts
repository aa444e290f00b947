import { debuglog } from '../io/debug-log.js';
import { AbortedError, OcifsError } from '../errors.js';
import type { ExtraBytesSink } from '../io/byte-source.js';
import { NetworkError, RangeResponseError, ShortBodyError } from './errors.js';
import type { Endpoint } from './endpoints.js';
import { destroyBody } from './transport.js';

const log = debuglog('ocifs:registry');

/**
 * Bytes of the body a stream keeps after passing them on. A cache stores the bytes handed to
 * its sink asynchronously; a read that arrives in between (or needs the partial chunk the cache
 * is still assembling) is served from here instead of starting the whole body again.
 */
export const DEFAULT_RETAIN_BYTES = 8 * 1024 * 1024;
/** How long a finished stream keeps serving its retained tail (ms). */
export const RETAIN_AFTER_END_MS = 5_000;

interface Waiter {
  start: number;
  end: number;
  buf: Uint8Array;
  filled: number;
  resolve: (b: Uint8Array) => void;
  reject: (e: Error) => void;
}

/** What a {@link FullBodyStream} needs from its owner. */
export interface FullBodyStreamOptions {
  /** Blob size; the body must have exactly this many bytes. */
  size: number;
  /** Receives every byte no reader asked for (the cache keeps them). */
  sink?: ExtraBytesSink;
  /** Counts received bytes. */
  count: (bytes: number) => void;
  /** Maps a transport error to a typed one. */
  mapError: (err: unknown) => Error;
  /** Called once when the stream is over (ended, failed or stopped). */
  onDone: () => void;
  /** For messages. */
  where: string;
  /** Bytes kept after they passed (default {@link DEFAULT_RETAIN_BYTES}). */
  retainBytes?: number;
}

/**
 * One whole-blob response body (a server that ignores Range) shared by many reads: every read
 * whose range still lies ahead joins it, gets exactly its bytes copied out, and everything no
 * reader asked for goes to the sink once. Without a sink, the stream stops as soon as no reader
 * waits. Memory stays bounded: chunks are passed on as they arrive, the sink applies backpressure.
 */
export class FullBodyStream {
  /** Bytes of the body received so far. */
  private pos = 0;
  private ended = false;
  private readonly waiters = new Set<Waiter>();
  private sink: ExtraBytesSink | undefined;
  /** Set by the first wait(): before it, an idle stream without a sink must not stop. */
  private hadWaiter = false;
  /** The last body chunks, ending at `pos`, at most `retainBytes` in all (plus one chunk). */
  private readonly retained: { start: number; bytes: Uint8Array }[] = [];
  private retainedBytes = 0;
  /** The stream failed: nothing may be served from it any more. */
  private failed = false;

  constructor(
    /** The endpoint the body comes from. */
    readonly endpoint: Endpoint,
    private readonly body: AsyncIterable<Uint8Array> & {
      destroy(err?: Error): unknown;
      on(event: 'error', fn: () => void): unknown;
    },
    private readonly options: FullBodyStreamOptions,
  ) {
    this.sink = options.sink;
    void this.run();
  }

  /** Start of the retained tail (`pos` when nothing is retained). */
  private get retainStart(): number {
    return this.retained.length ? this.retained[0].start : this.pos;
  }

  /**
   * True when `[offset, offset + length)` can be served: it starts in the retained tail or
   * ahead of the stream while it runs, or lies wholly in the retained tail after it ended.
   */
  canServe(offset: number, length = 1): boolean {
    if (this.failed || offset < this.retainStart) return false;
    return !this.ended || offset + length <= this.pos;
  }

  /** Copies retained bytes of `[start, end)` into `buf` (at `start - bufStart`); returns how many, from `start` on. */
  private copyRetained(start: number, end: number, buf: Uint8Array): number {
    let done = 0;
    for (const r of this.retained) {
      const s = Math.max(start + done, r.start);
      const e = Math.min(end, r.start + r.bytes.byteLength);
      if (s !== start + done || s >= e) continue;
      buf.set(r.bytes.subarray(s - r.start, e - r.start), s - start);
      done += e - s;
    }
    return done;
  }

  /** Waits for bytes `[offset, offset + length)`; `canServe(offset, length)` must be true. */
  wait(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortedError({ cause: signal.reason }));
      const have = offset < this.pos ? new Uint8Array(length) : undefined;
      const filled = have ? this.copyRetained(offset, Math.min(offset + length, this.pos), have) : 0;
      if (have && filled === length) return resolve(have);
      const onAbort = () => {
        if (this.waiters.delete(w)) reject(new AbortedError({ cause: signal!.reason }));
        this.stopIfIdle();
      };
      const w: Waiter = {
        start: offset,
        end: offset + length,
        buf: have ?? new Uint8Array(length),
        filled,
        resolve: (b) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(b);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(w);
      this.hadWaiter = true;
    });
  }

  private stopIfIdle(): void {
    if (!this.ended && this.hadWaiter && this.waiters.size === 0 && !this.sink) {
      this.ended = true;
      destroyBody(this.body);
    }
  }

  private async run(): Promise<void> {
    const { size } = this.options;
    let failure: Error | undefined;
    try {
      for await (const chunk of this.body) {
        this.options.count(chunk.byteLength);
        const cStart = this.pos;
        const cEnd = cStart + chunk.byteLength;
        if (cEnd > size)
          throw new RangeResponseError(`${this.options.where}: body is longer than the blob's ${size} bytes`, {
            retryable: true,
          });
        this.pos = cEnd;
        this.retain(cStart, chunk);
        const covered: [number, number][] = [];
        for (const w of this.waiters) {
          const s = Math.max(w.start + w.filled, cStart);
          const e = Math.min(w.end, cEnd);
          if (s >= e) continue;
          w.buf.set(chunk.subarray(s - cStart, e - cStart), s - w.start);
          w.filled += e - s;
          covered.push([s, e]);
          if (w.filled === w.buf.byteLength) {
            this.waiters.delete(w);
            w.resolve(w.buf);
          }
        }
        if (this.sink) await this.feedSink(chunk, cStart, cEnd, covered);
        if (this.hadWaiter && this.waiters.size === 0 && !this.sink) break;
      }
      if (!this.ended && this.pos !== size && (this.waiters.size > 0 || this.sink)) {
        throw new ShortBodyError(`${this.options.where}: body ended after ${this.pos} of ${size} bytes`, {
          data: { received: this.pos, expected: size },
        });
      }
    } catch (err) {
      this.failed = true;
      failure = err instanceof OcifsError && !(err instanceof AbortedError) ? err : this.options.mapError(err);
      if (failure instanceof AbortedError)
        failure = new NetworkError(`${this.options.where}: shared whole-body stream stopped`, { cause: err });
    } finally {
      this.ended = true;
      destroyBody(this.body);
      for (const w of this.waiters) {
        w.reject(failure ?? new NetworkError(`${this.options.where}: shared whole-body stream stopped`));
      }
      this.waiters.clear();
      // A complete body keeps serving its tail a little longer (see DEFAULT_RETAIN_BYTES).
      if (this.failed || this.pos !== size) this.options.onDone();
      else setTimeout(() => this.options.onDone(), RETAIN_AFTER_END_MS).unref();
    }
  }

  private retain(start: number, chunk: Uint8Array): void {
    const limit = this.options.retainBytes ?? DEFAULT_RETAIN_BYTES;
    this.retained.push({ start, bytes: chunk });
    this.retainedBytes += chunk.byteLength;
    while (this.retained.length > 1 && this.retainedBytes - this.retained[0].bytes.byteLength >= limit) {
      this.retainedBytes -= this.retained.shift()!.bytes.byteLength;
    }
  }

  /** Hands the parts of a chunk no reader took to the sink, in offset order. */
  private async feedSink(chunk: Uint8Array, cStart: number, cEnd: number, covered: [number, number][]): Promise<void> {
    covered.sort((a, b) => a[0] - b[0]);
    let at = cStart;
    const gaps: [number, number][] = [];
    for (const [s, e] of covered) {
      if (s > at) gaps.push([at, s]);
      at = Math.max(at, e);
    }
    if (at < cEnd) gaps.push([at, cEnd]);
    for (const [s, e] of gaps) {
      try {
        await this.sink!(s, chunk.subarray(s - cStart, e - cStart));
      } catch (err) {
        // The sink is an optimisation (the cache keeping bytes): losing it must not fail reads.
        log('%s: extra-bytes sink failed, no longer feeding it: %s', this.options.where, (err as Error).message);
        this.sink = undefined;
        return;
      }
    }
  }
}
