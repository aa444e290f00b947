/**
 * {@link MemoryBlobCache}: the same `openBlob` as {@link BlobCache}, but chunks live in a bounded
 * amount of memory and nothing touches the disk (`--no-cache`). Reads are still coalesced,
 * single-flight, parallel and read ahead; a blob read from start to end (in any read sizes) is
 * hashed on the way and a mismatch rejects the read that reached its end.
 *
 * @packageDocumentation
 */
import { InvalidOptionError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { checkBlobSize } from './blob-cache.js';
import { CachedSource } from './cached-source.js';
import { parseDigest } from '../ref/digest.js';
import { MemoryPool, MemoryStore } from './memory-store.js';
import {
  checkChunkSize,
  checkSizeCap,
  chunkSizeFor,
  DEFAULT_CHUNK_SIZE,
  DEFAULT_MEMORY_CACHE_BYTES,
  resolveSourceOptions,
  type BlobSourceOptions,
  type MemoryBlobCacheOptions,
  type ResolvedSourceOptions,
} from './options.js';

/** A memory-only blob cache with one byte budget for all its blobs. */
export class MemoryBlobCache {
  private readonly pool: MemoryPool;
  private readonly chunkSize: number;
  private readonly sourceOptions: ResolvedSourceOptions;
  private readonly sources = new Map<string, { source: CachedSource; size: number }>();

  constructor(options: MemoryBlobCacheOptions = {}) {
    if ('verifyBeforeServe' in options && (options as BlobSourceOptions).verifyBeforeServe) {
      throw new InvalidOptionError('verifyBeforeServe', 'needs the disk cache (a memory cache cannot hold every blob)');
    }
    this.chunkSize = checkChunkSize('chunkSize', options.chunkSize ?? DEFAULT_CHUNK_SIZE);
    this.pool = new MemoryPool(checkSizeCap('maxBytes', options.maxBytes ?? DEFAULT_MEMORY_CACHE_BYTES));
    this.sourceOptions = resolveSourceOptions(options);
  }

  /** Bytes of chunks held now. */
  get usedBytes(): number {
    return this.pool.usedBytes;
  }

  /** Like {@link BlobCache.openBlob}, in memory. */
  async openBlob(
    digest: string,
    size: number,
    upstream: ByteSource,
    options: Omit<BlobSourceOptions, 'verifyBeforeServe'> = {},
  ): Promise<CachedSource> {
    const d = parseDigest(digest);
    checkBlobSize(size, upstream);
    if ((options as BlobSourceOptions).verifyBeforeServe)
      throw new InvalidOptionError('verifyBeforeServe', 'needs the disk cache');
    const resolved = resolveSourceOptions(options, this.sourceOptions);
    // Keyed by origin too: nothing is ever verified here before it is read whole, so one
    // origin's chunks are never another's.
    const key = `${resolved.origin}\n${d.value}`;
    const open = this.sources.get(key);
    if (open) {
      if (open.size !== size) {
        throw new InvalidOptionError('size', `blob ${d.value} is open with size ${open.size}, not ${size}`);
      }
      return open.source.retain();
    }
    const chunkSize = chunkSizeFor(size, this.chunkSize);
    const source: CachedSource = new CachedSource({
      digest: d,
      size,
      upstream,
      options: resolved,
      chunkSize,
      openStore: async (cs) => new MemoryStore(this.pool, size, cs),
      onClose: () => {
        if (this.sources.get(key)?.source === source) this.sources.delete(key);
      },
    });
    this.sources.set(key, { source, size });
    await source.open();
    return source;
  }

  /** Closes every open source and drops everything. */
  async close(): Promise<void> {
    const all = [...this.sources.values()];
    this.sources.clear();
    await Promise.all(all.map((e) => e.source.destroy()));
  }
}
