// Instrumented upstreams for cache tests: real byte sources wrapped to count, slow down or fail
// reads. They change nothing about the bytes (except FlippingSource, which exists to lie).
import type { ByteSource, ReadOptions } from '../../src/io/byte-source.js';
import { throwIfAborted } from '../../src/errors.js';

/** Counts reads and bytes, and records each request. */
export class CountingSource implements ByteSource {
  readonly size: number;
  requests = 0;
  bytes = 0;
  log: { offset: number; length: number }[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(readonly inner: ByteSource) {
    this.size = inner.size;
  }
  async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    this.requests++;
    this.log.push({ offset, length });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      const b = await this.inner.read(offset, length, options);
      this.bytes += b.byteLength;
      return b;
    } finally {
      this.inFlight--;
    }
  }
  reset(): void {
    this.requests = 0;
    this.bytes = 0;
    this.log = [];
    this.maxInFlight = 0;
  }
}

/** Delays every read by `ms` (abortable). */
export class SlowSource implements ByteSource {
  readonly size: number;
  constructor(
    readonly inner: ByteSource,
    public ms: number,
  ) {
    this.size = inner.size;
  }
  async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, this.ms);
      options?.signal?.addEventListener('abort', () => {
        clearTimeout(t);
        reject(options.signal!.reason);
      });
    });
    throwIfAborted(options?.signal);
    return this.inner.read(offset, length, options);
  }
}

/** Fails reads while `failing` returns true for them. */
export class FailingSource implements ByteSource {
  readonly size: number;
  failures = 0;
  constructor(
    readonly inner: ByteSource,
    public failing: (offset: number, length: number) => boolean,
  ) {
    this.size = inner.size;
  }
  async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    if (this.failing(offset, length)) {
      this.failures++;
      throw new Error(`upstream failure at ${offset}+${length}`);
    }
    return this.inner.read(offset, length, options);
  }
}

/** A lying upstream: flips one byte at `at` in every read that covers it (a registry serving bad data). */
export class FlippingSource implements ByteSource {
  readonly size: number;
  constructor(
    readonly inner: ByteSource,
    public at: number,
  ) {
    this.size = inner.size;
  }
  async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    const b = Uint8Array.prototype.slice.call(await this.inner.read(offset, length, options));
    if (this.at >= offset && this.at < offset + b.byteLength) b[this.at - offset] ^= 0xff;
    return b;
  }
}

/** Returns one byte less than asked (a truncated body). */
export class ShortSource implements ByteSource {
  readonly size: number;
  constructor(readonly inner: ByteSource) {
    this.size = inner.size;
  }
  async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    const b = await this.inner.read(offset, length, options);
    return b.subarray(0, Math.max(0, b.byteLength - 1));
  }
}

/** Deterministic pseudo-random bytes (fast; good enough to catch misplaced bytes). */
export function patternBytes(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let x = seed >>> 0 || 1;
  let i = 0;
  for (; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    view.setUint32(i, x >>> 0, true);
  }
  for (; i < size; i++) out[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return out;
}
