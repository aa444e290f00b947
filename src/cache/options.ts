/**
 * Options of the blob cache and of each cached source, with their defaults and checks.
 *
 * @packageDocumentation
 */
import { InvalidOptionError } from '../errors.js';
import type { IoStats } from '../io/io-stats.js';
import { checkOrigin, DEFAULT_ORIGIN } from './origin.js';

/** Smallest chunk size accepted (one page). */
export const MIN_CHUNK_SIZE = 4 * 1024;
/** Largest chunk size accepted. */
export const MAX_CHUNK_SIZE = 64 * 1024 * 1024;
/**
 * Default chunk size: the unit of presence, of fetching and of wasted bytes on a random read.
 * Chosen from the benchmarks. `bench/cache-micro.ts` (512 MiB blob, 1,000 cold 4 KiB reads):
 * uniform random reads fetch 16x / 52x / 114x / 131x the bytes asked at 64 KiB / 256 KiB /
 * 1 MiB / 4 MiB chunks. `bench/erofs-image.ts` (566 MiB image, 34k files): a cold `cat` of a
 * 1 MiB file fetches 1.20x (plain) / 1.34x (lz4hc) of its blocks plus the metadata on its path
 * at 64 KiB, 1.76x / 2.07x at 256 KiB, because every directory block and inode on the path
 * costs a whole chunk. Cold sequential throughput does not depend on it (adjacent missing chunks
 * are coalesced into one request), and walks read ahead past the chunk. High-latency
 * registries with clustered random reads may prefer 256 KiB (fewer round trips).
 */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
/** Most chunks a blob's presence map may have; larger blobs get a larger chunk size. */
export const MAX_CHUNKS_PER_BLOB = 1 << 24;
/** Default cap of concurrent upstream requests per blob. */
export const DEFAULT_PARALLELISM = 4;
/** Default cap of one coalesced upstream Range request. */
export const DEFAULT_MAX_REQUEST_BYTES = 8 * 1024 * 1024;
/**
 * A missing run is split over parallel requests only into pieces at least this big: every
 * request costs a round trip and a registry's per-request work (auth, lookups), which under
 * load dominates small requests.
 */
export const DEFAULT_MIN_SPLIT_BYTES = 4 * 1024 * 1024;
/**
 * A streamed read or a fill fetches a missing run at least this long as one upstream stream
 * (when the upstream can stream, e.g. the registry's blob source): one request whose bytes go
 * to the reader, the data file and the hash as they arrive. Shorter runs go out as Range
 * requests of at most `maxRequestBytes`, split over parallel requests.
 */
export const DEFAULT_STREAM_MIN_BYTES = 8 * 1024 * 1024;
/** Default first readahead window once a second sequential read is seen. */
export const DEFAULT_READAHEAD_INITIAL_BYTES = 1024 * 1024;
/** Default largest readahead window. */
export const DEFAULT_READAHEAD_MAX_BYTES = 8 * 1024 * 1024;
/** Default age after which another process's silent download claim is taken over. */
export const DEFAULT_CLAIM_STALE_MS = 10_000;
/** Default bound of the memory-only cache (`--no-cache`). */
export const DEFAULT_MEMORY_CACHE_BYTES = 64 * 1024 * 1024;

/** Sequential-read prefetching. `false` turns it off. */
export interface ReadaheadOptions {
  /** Window after the second sequential read (default {@link DEFAULT_READAHEAD_INITIAL_BYTES}). */
  initialBytes?: number;
  /** The window doubles per sequential read up to this (default {@link DEFAULT_READAHEAD_MAX_BYTES}). */
  maxBytes?: number;
}

/** Options of one cached blob; given to the cache (defaults for all blobs) or to `openBlob`. */
export interface BlobSourceOptions {
  /** Counters: `cacheHitBytes`, `cacheMissBytes`. */
  stats?: IoStats;
  /** Max concurrent upstream requests for this blob (default {@link DEFAULT_PARALLELISM}). */
  parallelism?: number;
  /** Cap of one coalesced Range request (default {@link DEFAULT_MAX_REQUEST_BYTES}); rounded down to whole chunks. */
  maxRequestBytes?: number;
  /** Sequential readahead policy, or `false` (default on). */
  readahead?: ReadaheadOptions | false;
  /** Hash the whole blob against its digest once every chunk is present (default true). */
  verify?: boolean;
  /**
   * Fetch and verify the whole blob before serving any byte of it (default false). Without it,
   * bytes are served chunk by chunk as they arrive and are only checked against the digest once
   * the blob is complete: a lying registry's bytes can reach the caller before that.
   */
  verifyBeforeServe?: boolean;
  /** Another process's download claim silent for this long is taken over (default {@link DEFAULT_CLAIM_STALE_MS}). */
  claimStaleMs?: number;
  /**
   * Where the upstream gets its bytes: a registry host, or a registry's mirror chain (default
   * `''`, one unnamed origin). Until a blob is verified, its cached chunks and the data derived
   * from them are served only to sources of the origin that fetched them; a source of another
   * origin fetches its own. Once verified, the blob is shared by every origin.
   */
  origin?: string;
}

/** Options of {@link BlobCache.open}. */
export interface BlobCacheOptions extends BlobSourceOptions {
  /**
   * Bytes per chunk: a power of two in [{@link MIN_CHUNK_SIZE}, {@link MAX_CHUNK_SIZE}] (default
   * {@link DEFAULT_CHUNK_SIZE}).
   */
  chunkSize?: number;
  /**
   * Optional cap of the cache's on-disk usage (allocated blocks). Least-recently-used blobs are
   * evicted when the cache opens and after a blob completes.
   */
  maxSize?: number;
}

/** Options of {@link MemoryBlobCache}. */
export interface MemoryBlobCacheOptions extends Omit<BlobSourceOptions, 'verifyBeforeServe' | 'claimStaleMs'> {
  /** Bytes per chunk (default {@link DEFAULT_CHUNK_SIZE}). */
  chunkSize?: number;
  /** Most bytes of chunks held in memory across all blobs (default {@link DEFAULT_MEMORY_CACHE_BYTES}). */
  maxBytes?: number;
}

/** Source options with every default applied. */
export interface ResolvedSourceOptions {
  stats: IoStats | undefined;
  parallelism: number;
  maxRequestBytes: number;
  readahead: { initialBytes: number; maxBytes: number } | false;
  verify: boolean;
  verifyBeforeServe: boolean;
  claimStaleMs: number;
  origin: string;
}

function positiveInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new InvalidOptionError(name, `must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

/** Checks a chunk size option. */
export function checkChunkSize(name: string, v: unknown): number {
  const n = positiveInt(name, v, MIN_CHUNK_SIZE, MAX_CHUNK_SIZE);
  if ((n & (n - 1)) !== 0) throw new InvalidOptionError(name, `must be a power of two, got ${n}`);
  return n;
}

/** Checks a byte-size cap option (maxSize, maxBytes). */
export function checkSizeCap(name: string, v: unknown): number {
  return positiveInt(name, v, 0, Number.MAX_SAFE_INTEGER);
}

/** Applies defaults over `base` (itself resolved) and checks every value, naming the bad option. */
export function resolveSourceOptions(o: BlobSourceOptions = {}, base?: ResolvedSourceOptions): ResolvedSourceOptions {
  const b = base ?? {
    stats: undefined,
    parallelism: DEFAULT_PARALLELISM,
    maxRequestBytes: DEFAULT_MAX_REQUEST_BYTES,
    readahead: { initialBytes: DEFAULT_READAHEAD_INITIAL_BYTES, maxBytes: DEFAULT_READAHEAD_MAX_BYTES },
    verify: true,
    verifyBeforeServe: false,
    claimStaleMs: DEFAULT_CLAIM_STALE_MS,
    origin: DEFAULT_ORIGIN,
  };
  let readahead = b.readahead;
  if (o.readahead === false) readahead = false;
  else if (o.readahead !== undefined) {
    if (typeof o.readahead !== 'object' || o.readahead === null)
      throw new InvalidOptionError('readahead', 'must be an object or false');
    const initialBytes = positiveInt(
      'readahead.initialBytes',
      o.readahead.initialBytes ?? DEFAULT_READAHEAD_INITIAL_BYTES,
      1,
      1 << 30,
    );
    const maxBytes = positiveInt(
      'readahead.maxBytes',
      o.readahead.maxBytes ?? Math.max(initialBytes, DEFAULT_READAHEAD_MAX_BYTES),
      1,
      1 << 30,
    );
    if (maxBytes < initialBytes)
      throw new InvalidOptionError('readahead.maxBytes', 'must be at least readahead.initialBytes');
    readahead = { initialBytes, maxBytes };
  }
  for (const k of ['verify', 'verifyBeforeServe'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') throw new InvalidOptionError(k, 'must be a boolean');
  }
  return {
    stats: o.stats ?? b.stats,
    parallelism: o.parallelism === undefined ? b.parallelism : positiveInt('parallelism', o.parallelism, 1, 64),
    maxRequestBytes:
      o.maxRequestBytes === undefined
        ? b.maxRequestBytes
        : positiveInt('maxRequestBytes', o.maxRequestBytes, MIN_CHUNK_SIZE, 1 << 30),
    readahead,
    verify: o.verify ?? b.verify,
    verifyBeforeServe: o.verifyBeforeServe ?? b.verifyBeforeServe,
    claimStaleMs:
      o.claimStaleMs === undefined ? b.claimStaleMs : positiveInt('claimStaleMs', o.claimStaleMs, 100, 3_600_000),
    origin: o.origin === undefined ? b.origin : checkOrigin(o.origin),
  };
}

/**
 * The chunk size a blob of `size` bytes gets: the requested one, doubled until its map fits {@link
 * MAX_CHUNKS_PER_BLOB}.
 */
export function chunkSizeFor(size: number, requested: number): number {
  let c = requested;
  while (Math.ceil(size / c) > MAX_CHUNKS_PER_BLOB) c *= 2;
  return c;
}
