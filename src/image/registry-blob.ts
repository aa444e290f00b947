/**
 * One blob of an image in a registry, read through the cache: the registry's range reads
 * wrapped by the cache's chunk map. What {@link Image.openBlob} does for a layer of a resolved
 * manifest, also usable without one by code that already knows the blob's descriptor (the
 * containerd snapshotter mounts a layer again after a restart with no registry round trip).
 */
import type { ByteSource } from '../io/byte-source.js';
import type { IoStats } from '../io/io-stats.js';
import type { ImageReference } from '../ref/index.js';
import type { RegistryClient } from '../registry/index.js';
import type { BlobCache, CachedSource, MemoryBlobCache } from '../cache/index.js';
import { ImageBlob, type BlobInfo } from './image-blob.js';

/** Options of {@link openRegistryBlob}. */
export interface RegistryBlobOptions {
  /** Counters of the cache's reads. */
  stats?: IoStats;
  /** Download and verify the blob whole before serving any byte of it. */
  verifyBeforeServe?: boolean;
  /** Let the cache read ahead on sequential access (default true). */
  readahead?: boolean;
  /** Wraps the registry source before the cache sees it (timing, counting). */
  wrapUpstream?: (remote: ByteSource) => ByteSource;
}

/** Opens `info` (a blob of `ref`) for random-access reads through `cache`. */
export async function openRegistryBlob(
  client: RegistryClient,
  cache: BlobCache | MemoryBlobCache,
  ref: ImageReference,
  info: BlobInfo,
  options: RegistryBlobOptions = {},
): Promise<ImageBlob> {
  // onExtraBytes may run before the assignment: it must see undefined, not a TDZ error.
  // eslint-disable-next-line prefer-const -- see above
  let cached: CachedSource | undefined;
  const remote = client.blobSource(ref, info, {
    // A registry that ignores Range sends the whole blob: keep what it sends.
    onExtraBytes: (offset, bytes) => (cached ? cached.storeExtra(offset, bytes) : Promise.resolve()),
  });
  cached = await cache.openBlob(info.digest, info.size, options.wrapUpstream ? options.wrapUpstream(remote) : remote, {
    ...(options.stats ? { stats: options.stats } : {}),
    // Until verified, cached bytes are served only through the registry (or mirror chain) that sent them.
    origin: client.origin(ref),
    ...(options.verifyBeforeServe ? { verifyBeforeServe: true } : {}),
    ...(options.readahead === false ? { readahead: false as const } : {}),
  });
  return new ImageBlob(info, cached, cached);
}
