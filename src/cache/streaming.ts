/**
 * Streaming reads: a source that can push a long range to a consumer as its bytes arrive,
 * instead of answering one `read` with one freshly allocated buffer. A whole-blob copy through
 * the cache is then one upstream request whose network chunks go to the consumer, the data
 * file and the hash without being gathered into big buffers first.
 *
 * The capability is optional and structural: the registry's blob source implements it without
 * importing the cache (see `RemoteBlobSource.streamRange`), and {@link CachedSource} implements
 * it over any upstream (streaming from the upstream when it can, reading otherwise).
 *
 * @packageDocumentation
 */
import type { ByteSource, ReadOptions } from '../io/byte-source.js';

/**
 * Receives the bytes of a streamed range, in order. Returning a promise pauses the producer
 * until it settles (backpressure); a rejection stops the stream with that error. The consumer
 * owns each chunk it is given (the producer never writes to it again).
 */
export type ChunkSink = (chunk: Uint8Array) => void | Promise<void>;

/** A byte source that can also deliver a range as a stream of chunks. */
export interface StreamableSource extends ByteSource {
  /**
   * Delivers `[offset, offset + length)` (cut short at `size`, like `read`) to `sink`, in order,
   * every byte exactly once, in chunks of any size. Resolves after the last byte was delivered
   * (and the sink's promise for it settled); rejects when the bytes cannot be produced, after
   * the sink got some prefix of them. A range outside the source rejects like `read`.
   */
  streamRange(offset: number, length: number, sink: ChunkSink, options?: ReadOptions): Promise<void>;
}

/** True when `source` implements {@link StreamableSource.streamRange}. */
export function isStreamable(source: ByteSource): source is StreamableSource {
  return typeof (source as Partial<StreamableSource>).streamRange === 'function';
}

/** Views of the bytes `[from, to)` of the concatenation of `parts` (no copying). */
export function sliceParts(parts: readonly Uint8Array[], from: number, to: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  for (const p of parts) {
    const pEnd = at + p.byteLength;
    if (pEnd > from && at < to) out.push(p.subarray(Math.max(0, from - at), Math.min(p.byteLength, to - at)));
    at = pEnd;
    if (at >= to) break;
  }
  return out;
}

/** The concatenation of `parts` as one buffer (the part itself when there is only one). */
export function joinParts(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Total bytes of `parts`. */
export function partsLength(parts: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  return n;
}
