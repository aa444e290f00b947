import type { ByteSource, EncodedSpan, EncodedSpanOptions, FileSpan, ReadOptions } from './byte-source.js';
import { clampRead } from './check-range.js';

/** A window `[start, start + size)` of another byte source. */
export class SliceSource implements ByteSource {
  constructor(
    private readonly inner: ByteSource,
    private readonly start: number,
    readonly size: number,
  ) {
    clampRead(start, size, inner.size);
    if (start + size > inner.size) clampRead(start + size, 1, inner.size);
  }
  read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    const n = clampRead(offset, length, this.size);
    if (options?.readaheadLimit !== undefined)
      options = { ...options, readaheadLimit: this.start + Math.min(this.size, Math.max(0, options.readaheadLimit)) };
    return this.inner.read(this.start + offset, n, options);
  }
  async fileSpans(offset: number, length: number, options?: ReadOptions): Promise<FileSpan[] | undefined> {
    const n = clampRead(offset, length, this.size);
    return this.inner.fileSpans?.(this.start + offset, n, options);
  }
  async encodedSpans(offset: number, length: number, options?: EncodedSpanOptions): Promise<EncodedSpan[] | undefined> {
    const n = clampRead(offset, length, this.size);
    return this.inner.encodedSpans?.(this.start + offset, n, options);
  }
}
