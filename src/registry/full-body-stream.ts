import { debuglog } from 'node:util';
import { AbortedError, OcifsError } from '../errors.js';
import type { ExtraBytesSink } from '../io/byte-source.js';
import { NetworkError, RangeResponseError, ShortBodyError } from './errors.js';
import type { Endpoint } from './endpoints.js';
import { destroyBody } from './transport.js';

const log = debuglog('ocifs:registry');

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

  constructor(
    /** The endpoint the body comes from. */
    readonly endpoint: Endpoint,
    private readonly body: AsyncIterable<Uint8Array> & { destroy(err?: Error): unknown; on(event: 'error', fn: () => void): unknown },
    private readonly options: FullBodyStreamOptions,
  ) {
    this.sink = options.sink;
    void this.run();
  }

  /** True while the stream runs and has not passed `offset`. */
  canServe(offset: number): boolean {
    return !this.ended && offset >= this.pos;
  }

  /** Waits for bytes `[offset, offset + length)`; `canServe(offset)` must be true. */
  wait(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortedError({ cause: signal.reason }));
      const onAbort = () => {
        if (this.waiters.delete(w)) reject(new AbortedError({ cause: signal!.reason }));
        this.stopIfIdle();
      };
      const w: Waiter = {
        start: offset,
        end: offset + length,
        buf: new Uint8Array(length),
        filled: 0,
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
        if (cEnd > size) throw new RangeResponseError(`${this.options.where}: body is longer than the blob's ${size} bytes`, { retryable: true });
        this.pos = cEnd;
        const covered: [number, number][] = [];
        for (const w of this.waiters) {
          const s = Math.max(w.start, cStart);
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
        throw new ShortBodyError(`${this.options.where}: body ended after ${this.pos} of ${size} bytes`, { data: { received: this.pos, expected: size } });
      }
    } catch (err) {
      failure = err instanceof OcifsError && !(err instanceof AbortedError) ? err : this.options.mapError(err);
      if (failure instanceof AbortedError) failure = new NetworkError(`${this.options.where}: shared whole-body stream stopped`, { cause: err });
    } finally {
      this.ended = true;
      destroyBody(this.body);
      for (const w of this.waiters) {
        w.reject(failure ?? new NetworkError(`${this.options.where}: shared whole-body stream stopped`));
      }
      this.waiters.clear();
      this.options.onDone();
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
