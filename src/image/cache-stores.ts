/**
 * The blob cache as the store of what the tar reader derives from a layer: its indexes (cache
 * sidecars of the layer's cached instance) and the decompressed tar of a single-frame tar+zstd
 * layer (a blob of its own, keyed and verified by the layer's diff_id).
 */
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { BlobCache, type CachedSource, type MemoryBlobCache } from '../cache/index.js';
import { TempDerivedBlobStore, type DerivedBlobStore, type DerivedBlobWriter, type IndexStore } from '../tar/index.js';
import { DerivedMissingError } from './errors.js';

type AnyCache = BlobCache | MemoryBlobCache;

/** An {@link IndexStore} of one cached blob (see {@link sidecarIndexStore}). */
export interface BlobIndexStore extends IndexStore {
  /**
   * True while every byte of the blob read since the store was made is in the one instance
   * its indexes are kept with: an index loaded or built meanwhile is then exactly as
   * trustworthy as that instance (verified once the blob is).
   */
  readonly intact: boolean;
}

/**
 * Indexes of one cached blob, kept as sidecars of the instance whose bytes they are built
 * from: discarded with bytes that fail their digest check, seen only through the same origin
 * until the blob is verified, and (with `verifyBeforeServe`) never handed out before it is.
 * Create it before reading the blob for an index: an index is only kept when every byte
 * served since then is in one instance.
 */
export function sidecarIndexStore(source: CachedSource, options: ReadOptions = {}): BlobIndexStore {
  const mark = source.derivedMark();
  return {
    get: (name) => source.getSidecar(name, options),
    put: async (name, bytes) => {
      await source.putSidecar(name, bytes, mark);
    },
    get intact() {
      return source.derivedMark() === mark;
    },
  };
}

/**
 * Origin of derived blobs: made here, during the pass over a layer, and verified against the
 * diff_id that pass computed. They are trusted through the zstd index that names that diff_id,
 * which is kept only with the layer's instance whose bytes the pass read.
 */
const DERIVED_ORIGIN = 'ocifs:derived';

/** Sidecar of a derived blob recording its size (the cache needs it to open the blob). */
const SIZE_SIDECAR = 'derived-size';

/** A source that is never read: a derived blob is only opened once it is complete. */
class NoUpstream implements ByteSource {
  constructor(
    readonly size: number,
    private readonly digest: string,
  ) {}
  async read(): Promise<Uint8Array> {
    throw new DerivedMissingError(this.digest);
  }
}

/**
 * Derived blobs in the disk cache: written to a temporary file during the pass, then filled
 * into the cache through the normal path (so the cache verifies them against the diff_id)
 * and served from there in this and later processes.
 */
export class CacheDerivedBlobStore implements DerivedBlobStore {
  private readonly temp = new TempDerivedBlobStore();

  constructor(private readonly cache: BlobCache) {}

  async get(diffId: string): Promise<ByteSource | undefined> {
    const sizeBytes = await this.cache.getSidecar(diffId, SIZE_SIDECAR);
    if (!sizeBytes || sizeBytes.byteLength !== 8) return undefined;
    const size = Number(new DataView(sizeBytes.buffer, sizeBytes.byteOffset, 8).getBigUint64(0, true));
    const source = await this.cache.openBlob(diffId, size, new NoUpstream(size, diffId), { origin: DERIVED_ORIGIN });
    if (!source.isComplete) {
      await source.close();
      return undefined;
    }
    return source;
  }

  async create(): Promise<DerivedBlobWriter> {
    const inner = await this.temp.create();
    const cache = this.cache;
    return {
      write: (bytes) => inner.write(bytes),
      abort: () => inner.abort(),
      async commit(diffId: string): Promise<ByteSource> {
        const file = await inner.commit(diffId);
        try {
          const cached = await cache.openBlob(diffId, file.size, file, { readahead: false, origin: DERIVED_ORIGIN });
          await cached.fill();
          const size = new Uint8Array(8);
          new DataView(size.buffer).setBigUint64(0, BigInt(file.size), true);
          await cache.putSidecar(diffId, SIZE_SIDECAR, size);
          return cached;
        } finally {
          await file.close?.();
        }
      },
    };
  }
}

/** The derived-blob store for a cache: the cache itself on disk, temporary files in memory mode. */
export function derivedStoreFor(cache: AnyCache): DerivedBlobStore {
  return cache instanceof BlobCache ? new CacheDerivedBlobStore(cache) : new TempDerivedBlobStore();
}
