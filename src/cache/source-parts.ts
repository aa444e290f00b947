/**
 * The collaborators of one `CachedSource` that fetching, streaming and extra bytes work
 * with: where its chunks are stored now, which are being fetched, how fetched bytes are
 * written, and how they are checked.
 *
 * @packageDocumentation
 */
import type { ChunkWriter } from './chunk-writer.js';
import type { InflightTable } from './fetch-task.js';
import type { StoreSlot } from './store-slot.js';
import type { Verifier } from './verifier.js';

/** The parts of one cached source (see the module text). */
export interface SourceParts {
  /** The blob's digest (for messages). */
  readonly digest: string;
  /** The blob's size. */
  readonly size: number;
  /** The store in use. */
  readonly slot: StoreSlot;
  /** Chunks being fetched in this process, and by which task. */
  readonly inflight: InflightTable;
  /** Writes fetched chunks and counts those handed out before written. */
  readonly writer: ChunkWriter;
  /** Hashes written bytes and checks the complete blob. */
  readonly verifier: Verifier;
}
