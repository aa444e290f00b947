export { BlobCache, type CacheEntry, type VerifyResult, type GcOptions, type GcResult } from './blob-cache.js';
export { MemoryBlobCache } from './memory-cache.js';
export { CachedSource, type FillOptions, type ByteRange } from './cached-source.js';
export {
  DEFAULT_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
  MAX_CHUNK_SIZE,
  DEFAULT_PARALLELISM,
  DEFAULT_MAX_REQUEST_BYTES,
  DEFAULT_READAHEAD_INITIAL_BYTES,
  DEFAULT_READAHEAD_MAX_BYTES,
  DEFAULT_CLAIM_STALE_MS,
  DEFAULT_MEMORY_CACHE_BYTES,
  type BlobCacheOptions,
  type BlobSourceOptions,
  type MemoryBlobCacheOptions,
  type ReadaheadOptions,
} from './options.js';
export {
  CacheInsecureError,
  CacheCorruptError,
  CacheClosedError,
  CacheIoError,
  UpstreamShortReadError,
  BlobSizeMismatchError,
  CacheFullError,
  CacheIncompleteError,
  CacheStuckError,
  CacheUnstableError,
} from './errors.js';
export { MAX_SIDECAR_BYTES, type SidecarCheck } from './sidecar.js';
export { DEFAULT_ORIGIN } from './origin.js';
