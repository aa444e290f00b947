/**
 * The content of a sparse tar member: its stored segments, laid out at their logical offsets,
 * with zeros in between.
 *
 * @packageDocumentation
 */
import { throwIfAborted } from '../errors.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { clampRead } from '../io/check-range.js';
import type { SparseSegment } from './tar-entry.js';

/** A byte source of `size` bytes whose data segments are stored back to back at `dataOffset`. */
export class SparseSource implements ByteSource {
  /** Offset in the stored data of each segment. */
  private readonly storedAt: number[] = [];

  constructor(
    private readonly tar: ByteSource,
    private readonly dataOffset: number,
    readonly size: number,
    private readonly segments: readonly SparseSegment[],
  ) {
    let s = 0;
    for (const g of segments) {
      this.storedAt.push(s);
      s += g.length;
    }
  }

  async read(offset: number, length: number, options: ReadOptions = {}): Promise<Uint8Array> {
    throwIfAborted(options.signal);
    const n = clampRead(offset, length, this.size);
    const out = new Uint8Array(n);
    const end = offset + n;
    // First segment that ends after `offset` (binary search).
    let lo = 0;
    let hi = this.segments.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const g = this.segments[mid];
      if (g.offset + g.length <= offset) lo = mid + 1;
      else hi = mid;
    }
    const reads: Promise<void>[] = [];
    for (let i = lo; i < this.segments.length && this.segments[i].offset < end; i++) {
      const g = this.segments[i];
      const from = Math.max(offset, g.offset);
      const to = Math.min(end, g.offset + g.length);
      const at = this.dataOffset + this.storedAt[i] + (from - g.offset);
      reads.push(
        this.tar.read(at, to - from, options).then((b) => {
          out.set(b, from - offset);
        }),
      );
    }
    await Promise.all(reads);
    return out;
  }
}
