/**
 * Where a cached source keeps chunks: on disk ({@link DiskStore}) or in memory
 * ({@link MemoryStore}). The fetching logic (coalescing, single-flight, readahead, verification)
 * lives in {@link CachedSource} and is the same for both.
 *
 * @packageDocumentation
 */
import type { ClaimSet } from './claims.js';

/** Result of storing a run of chunks. */
export interface WriteResult {
  /** Resolves true once the chunks are durable and marked present; false if that failed (they are missing again). */
  durable: Promise<boolean>;
  /** Every chunk of the buffer was written by this call (none was already present). */
  all: boolean;
}

/** Chunk storage of one blob. */
export interface ChunkStore {
  readonly kind: 'disk' | 'memory';
  readonly size: number;
  readonly chunkSize: number;
  readonly chunkCount: number;
  /** Every chunk present and verified (or complete, when verification is off): reads need no map. */
  readonly complete: boolean;
  /** Chunks readable now. */
  readonly presentCount: number;
  /** The last write failed for lack of space. */
  readonly noSpace: boolean;
  /** Cross-process download claims (disk only). */
  readonly claims: ClaimSet | undefined;
  /** True when chunk `c` can be read now. */
  has(c: number): boolean;
  /** Reloads the presence of chunks `[c0, c1)` from shared state (other processes' marks). */
  refresh(c0: number, c1: number): Promise<void>;
  /** Reads bytes of readable chunks into `buf`; throws {@link StoreMissError} if one is not. */
  read(offset: number, length: number, buf: Uint8Array, bufOffset: number): Promise<void>;
  /**
   * Stores whole chunks from `c0` (the bytes given as one buffer or as consecutive parts);
   * resolves once they are readable, or null when not stored (no space, retired).
   */
  write(c0: number, bytes: Uint8Array | readonly Uint8Array[]): Promise<WriteResult | null>;
  /** Waits until every write so far is durable (or failed). */
  flush(): Promise<void>;
  /** Records that the blob is complete (unverified) or verified. */
  setComplete(verified: boolean): Promise<void>;
  /** A sidecar derived from this store's bytes (see `sidecar.ts`), or undefined. */
  getSidecar(name: string): Promise<Uint8Array | undefined>;
  /** Keeps a sidecar derived from this store's bytes; false when it was not kept. */
  putSidecar(name: string, bytes: Uint8Array): Promise<boolean>;
  /** Drops the stored bytes for good (digest mismatch, corruption). */
  discard(reason: string): Promise<void>;
  /** False when the stored instance was evicted or replaced behind our back. */
  isCurrent(): Promise<boolean>;
  /** Records an access for LRU eviction (cheap; throttled by the store). */
  touch(): void;
  /** Stops using the store; closes it once in-flight operations end. */
  retire(): void;
  /** Closes now (after pending durability work). */
  close(): Promise<void>;
}

/** A chunk that was readable is not any more (memory eviction, retired store): fetch again. */
export class StoreMissError extends Error {
  constructor(readonly chunk: number) {
    super(`chunk ${chunk} is not stored`);
  }
}
