// A streaming upstream for cache tests: an honest in-memory source that also implements
// streamRange, delivering a range in chunks of varying sizes (like a network body), with counters
// and hooks to pause, fail or lie at chosen offsets.
import type { ByteSource, ReadOptions } from '../../src/io/byte-source.js';
import type { ChunkSink, StreamableSource } from '../../src/cache/streaming.js';
import { clampRead } from '../../src/io/check-range.js';
import { throwIfAborted } from '../../src/errors.js';

export interface StreamingSourceOptions {
  /** Largest chunk handed to a sink (chunks vary between 1 byte and this; default 70,000). */
  maxChunk?: number;
  /** Flip the byte at this blob offset in everything served (a lying registry). */
  flipAt?: number;
}

/** Counts reads and streams; `gate` (when set) is awaited before delivering bytes at or past `gateAt`. */
export class StreamingSource implements StreamableSource {
  readonly size: number;
  reads = 0;
  readBytes = 0;
  streams: { offset: number; length: number }[] = [];
  streamedBytes = 0;
  /** Fail a stream once it has delivered this many bytes (once; then reset to undefined). */
  failAfter: number | undefined;
  gateAt = Infinity;
  gate: Promise<void> | undefined;
  /** Called when a stream reaches `gateAt`. */
  onGate: (() => void) | undefined;
  private seed = 12345;

  constructor(
    readonly inner: ByteSource,
    private readonly options: StreamingSourceOptions = {},
  ) {
    this.size = inner.size;
  }

  private flip(offset: number, b: Uint8Array): Uint8Array {
    const at = this.options.flipAt;
    if (at === undefined || at < offset || at >= offset + b.byteLength) return b;
    const copy = Uint8Array.prototype.slice.call(b);
    copy[at - offset] ^= 0xff;
    return copy;
  }

  async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    this.reads++;
    const b = await this.inner.read(offset, length, options);
    this.readBytes += b.byteLength;
    return this.flip(offset, b);
  }

  async streamRange(offset: number, length: number, sink: ChunkSink, options: ReadOptions = {}): Promise<void> {
    const n = clampRead(offset, length, this.size);
    this.streams.push({ offset, length: n });
    const max = this.options.maxChunk ?? 70_000;
    let pos = offset;
    let delivered = 0;
    while (pos < offset + n) {
      throwIfAborted(options.signal);
      if (pos >= this.gateAt && this.gate) {
        const g = this.gate;
        this.gate = undefined;
        this.onGate?.();
        // Waits like a stalled network body: until released or aborted.
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => reject(options.signal!.reason);
          options.signal?.addEventListener('abort', onAbort, { once: true });
          void g.then(() => {
            options.signal?.removeEventListener('abort', onAbort);
            resolve();
          });
        });
        throwIfAborted(options.signal);
      }
      if (this.failAfter !== undefined && delivered >= this.failAfter) {
        this.failAfter = undefined;
        throw new Error(`stream failure at ${pos}`);
      }
      this.seed = (this.seed * 1103515245 + 12345) >>> 0;
      let len = Math.min(offset + n - pos, 1 + (this.seed % max));
      if (pos < this.gateAt && pos + len > this.gateAt) len = this.gateAt - pos;
      const chunk = this.flip(pos, await this.inner.read(pos, len));
      pos += chunk.byteLength;
      delivered += chunk.byteLength;
      this.streamedBytes += chunk.byteLength;
      const r = sink(chunk);
      if (r) await r;
      // Let timers and I/O in now and then, like a network body does.
      if (this.seed % 16 === 0) await new Promise((r) => setImmediate(r));
    }
  }

  reset(): void {
    this.reads = 0;
    this.readBytes = 0;
    this.streams = [];
    this.streamedBytes = 0;
  }
}

/** Collects what a streamed range delivers. */
export async function collect(
  src: StreamableSource,
  offset: number,
  length: number,
  options: ReadOptions & { slow?: boolean } = {},
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  await src.streamRange(
    offset,
    length,
    async (chunk) => {
      parts.push(Uint8Array.prototype.slice.call(chunk));
      if (options.slow && parts.length % 4 === 0) await new Promise((r) => setTimeout(r, 1));
    },
    options,
  );
  return Buffer.concat(parts);
}
