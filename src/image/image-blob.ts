/**
 * One blob of an image (a layer, the config, or a local image file) as a byte source with the
 * conveniences a user wants: a read stream over a range, a copy to a file, and a whole-blob
 * prefetch into the cache.
 */
import type { Readable } from 'node:stream';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { copyToFile, readStream, type StreamOptions } from '../io/read-stream.js';
import type { CachedSource, FillOptions } from '../cache/index.js';

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

  /** A readable stream over `[start, start + length)` (default: the whole blob). */
  readStream(options: StreamOptions = {}): Readable {
    return readStream(this.source, options);
  }

  /** Writes `[start, start + length)` (default: the whole blob) to a file. */
  copyToFile(path: string, options: StreamOptions = {}): Promise<void> {
    return copyToFile(this.source, path, options);
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
