/**
 * One blob of an image (a layer, the config, or a local image file) as a byte source with the
 * conveniences a user wants: a read stream over a range, a copy to a file, and a whole-blob
 * prefetch into the cache.
 */
import type { Readable } from 'node:stream';
import type { ByteSource, FileSpan, ReadOptions } from '../io/byte-source.js';
import { copyToFile, readStream, type StreamOptions } from '../io/read-stream.js';
import type { CachedSource, FillOptions } from '../cache/index.js';
import { clampRead } from '../io/check-range.js';
import { copyFileRange, produceToFile, producerReadable } from './blob-copy.js';

/** What a blob is: its descriptor as the manifest gives it. */
export interface BlobInfo {
  /** Position in the manifest's layers (bottom = 0), or -1 for the config / not a layer. */
  index: number;
  /** `sha256:…`; empty for a local file that is read without a digest. */
  digest: string;
  mediaType: string;
  size: number;
  annotations?: Record<string, string>;
}

/** A blob of an image, readable at random offsets. */
export class ImageBlob implements ByteSource {
  readonly size: number;

  constructor(
    /** The blob's descriptor. */
    readonly info: BlobInfo,
    private readonly source: ByteSource,
    private readonly cached: CachedSource | undefined,
  ) {
    this.size = source.size;
  }

  read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    return this.source.read(offset, length, options);
  }

  /**
   * Where a range lies in a local file — the image file, or the cache's data file once the blob
   * is complete and verified — so extract can copy it with the kernel; undefined otherwise.
   */
  async fileSpans(offset: number, length: number, options?: ReadOptions): Promise<FileSpan[] | undefined> {
    return this.source.fileSpans?.(offset, length, options);
  }

  /**
   * A readable stream over `[start, start + length)` (default: the whole blob). Through the
   * cache this streams: present bytes from the data file, a long missing run as one upstream
   * request whose bytes arrive in the stream as they come (see `CachedSource.streamRange`).
   */
  readStream(options: StreamOptions = {}): Readable {
    const cached = this.cached;
    if (!cached) return readStream(this.source, options);
    const { start, length, common } = this.span(options);
    return producerReadable((sink, signal) => cached.streamRange(start, length, sink, { signal }), {
      total: length,
      ...common,
    });
  }

  /**
   * Writes `[start, start + length)` (default: the whole blob) to a file (created or
   * truncated). A verified blob is copied from its data file with large reads; otherwise the
   * bytes are streamed through the cache as for {@link readStream}.
   */
  async copyToFile(path: string, options: StreamOptions = {}): Promise<void> {
    const cached = this.cached;
    if (!cached) return copyToFile(this.source, path, options);
    const { start, length, common } = this.span(options);
    const fh = cached.isComplete ? await cached.openVerifiedFile() : null;
    if (fh) {
      try {
        await copyFileRange(fh, path, { start, length, ...common });
      } finally {
        await fh.close();
      }
      cached.countHit(length);
      return;
    }
    await produceToFile((sink, signal) => cached.streamRange(start, length, sink, { signal }), path, {
      total: length,
      ...common,
    });
  }

  /** The range `options` names, clamped to the blob, and its signal and progress callback (when given). */
  private span(options: StreamOptions): {
    start: number;
    length: number;
    common: Pick<StreamOptions, 'signal' | 'onProgress'>;
  } {
    const start = options.start ?? 0;
    const common = {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    };
    return { start, length: clampRead(start, options.length ?? this.size - start, this.size), common };
  }

  /** Downloads every missing chunk into the cache (a no-op for local files). */
  async prefetch(options: FillOptions = {}): Promise<void> {
    if (this.cached) await this.cached.fill(options);
    else options.onProgress?.(this.size, this.size);
  }

  /** True when the whole blob is in the cache and verified (always true for local files). */
  get isComplete(): boolean {
    return this.cached ? this.cached.isComplete : true;
  }

  /** Bytes of the blob already in the cache. */
  get presentBytes(): number {
    return this.cached ? this.cached.presentBytes : this.size;
  }

  /** The cached source, when the blob goes through the cache. */
  get cachedSource(): CachedSource | undefined {
    return this.cached;
  }

  async close(): Promise<void> {
    if (this.cached) await this.cached.close();
    else await this.source.close?.();
  }
}
