/**
 * A stream decoded in segments, as a random-access {@link ByteSource}: the uncompressed tar of a
 * gzip layer between its checkpoints, a TOC layer's chunks, a tar+zstd layer's frames. The
 * segments are given by a sorted table of start offsets; a subclass says how segment `i` is
 * decoded ({@link SegmentedSource.decode}), and this class finds the segments a read touches,
 * decodes them in parallel and stitches the bytes together. Decoded segments are kept in a
 * byte-budgeted LRU, and concurrent reads of one segment share its decode.
 *
 * @packageDocumentation
 */
import { InvalidOptionError, throwIfAborted } from '../errors.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { clampRead } from '../io/check-range.js';
import { byteLru, costWithin, type LRUCache } from '../io/lru.js';

/** Sizes the cache of a {@link SegmentedSource}. */
export interface SegmentCacheOptions {
  /** Bytes of decoded segments kept. */
  bytes: number;
  /** The option that set `bytes`, named when it is refused. */
  option: string;
}

/** See the module comment. */
export abstract class SegmentedSource implements ByteSource {
  readonly size: number;
  private readonly starts: Float64Array;
  private readonly cache: LRUCache<number, Uint8Array, ReadOptions>;
  private readonly maxCost: number;

  /**
   * @param starts where each segment starts in the decoded stream: non-decreasing, the first 0
   *   (checked by the subclass); segment `i` ends where `i + 1` starts, the last at `size`
   * @param size length of the decoded stream
   */
  protected constructor(starts: ArrayLike<number>, size: number, cache: SegmentCacheOptions) {
    if (!Number.isSafeInteger(cache.bytes) || cache.bytes < 0)
      throw new InvalidOptionError(cache.option, 'must be a non-negative integer');
    this.size = size;
    this.starts = Float64Array.from(starts);
    this.maxCost = Math.max(1, cache.bytes);
    this.cache = byteLru<number, Uint8Array, ReadOptions>(cache.bytes, (v) => v.length, {
      // The first reader's options (its signal) go to the decode, as each reader's would if it
      // were alone; an entry evicted while decoding still resolves for those who wait for it.
      fetchMethod: (i, _stale, { context }) => this.decode(i, context),
      ignoreFetchAbort: true,
    });
  }

  /** Number of segments. */
  get segmentCount(): number {
    return this.starts.length;
  }

  /** Where segment `i` starts in the decoded stream. */
  segmentStart(i: number): number {
    return this.starts[i];
  }

  /** Where segment `i` ends (exclusive). */
  segmentEnd(i: number): number {
    return i + 1 < this.starts.length ? this.starts[i + 1] : this.size;
  }

  /** The segment holding decoded offset `off` (the last one starting at or before it). */
  segmentAt(off: number): number {
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (s[mid] <= off) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  async read(offset: number, length: number, options: ReadOptions = {}): Promise<Uint8Array> {
    throwIfAborted(options.signal);
    const n = clampRead(offset, length, this.size);
    if (n === 0) return new Uint8Array(0);
    const first = this.segmentAt(offset);
    const last = this.segmentAt(offset + n - 1);
    if (first === last) {
      const start = this.starts[first];
      // A decoded segment is served without a turn of the event loop.
      const s = this.cache.get(first) ?? (await this.segment(first, options));
      this.afterRead(first, offset + n);
      return s.subarray(offset - start, offset - start + n);
    }
    const out = new Uint8Array(n);
    const parts = [];
    for (let i = first; i <= last; i++) {
      const from = Math.max(offset, this.starts[i]);
      const to = Math.min(offset + n, this.segmentEnd(i));
      if (to === from) continue; // an empty segment
      parts.push(
        this.segment(i, options).then((s) =>
          out.set(s.subarray(from - this.starts[i], to - this.starts[i]), from - offset),
        ),
      );
    }
    await Promise.all(parts);
    this.afterRead(last, offset + n);
    return out;
  }

  /** The decoded bytes of segment `i`, from the cache or decoded once for all who ask. */
  protected segment(i: number, options: ReadOptions): Promise<Uint8Array> {
    // Charged at its known size while it decodes, so in-flight decodes count against the budget.
    return this.cache.forceFetch(i, {
      context: options,
      size: costWithin(this.maxCost, this.segmentEnd(i) - this.starts[i]),
    });
  }

  /**
   * Called after each read with the last segment it touched and where it ended: a subclass
   * may decode ahead from here (with {@link segment}, whose decodes are shared with reads).
   */
  protected afterRead(_last: number, _end: number): void {}

  /** Decodes segment `i` whole: exactly `segmentEnd(i) - segmentStart(i)` bytes, or throws. */
  protected abstract decode(i: number, options: ReadOptions): Promise<Uint8Array>;
}
