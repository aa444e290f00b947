/**
 * The one interface everything in ocifs is built on.
 *
 * A byte source is a random-access, read-only sequence of bytes of a known size: a remote blob,
 * the cache around it, a local image file, a slice of another source, decompressed data behind
 * a checkpoint index. Behaviour is added by wrapping one source in another.
 *
 * @packageDocumentation
 */

/** Options accepted by every read. */
export interface ReadOptions {
  /** Cancels the read; the promise then rejects with `ERR_OCIFS_ABORTED`. */
  signal?: AbortSignal;
}

/**
 * Receives bytes a source obtained beyond what was asked: a registry that ignores a Range
 * header sends the whole blob, and a cache wrapping the source keeps those bytes instead of
 * asking again. Called in offset order; the source awaits each call, so the sink applies
 * backpressure.
 */
export type ExtraBytesSink = (offset: number, bytes: Uint8Array) => Promise<void>;

/** A random-access, read-only sequence of `size` bytes. */
export interface ByteSource {
  /** Total number of bytes. */
  readonly size: number;
  /**
   * Reads `length` bytes at `offset`. Reads that run past the end are cut short at `size`;
   * a read starting past the end, or with a negative offset or length, rejects with
   * `ERR_OCIFS_OUT_OF_RANGE`. The result holds exactly `min(length, size - offset)` bytes and
   * is never shorter for any other reason: a source that cannot produce the bytes rejects.
   */
  read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array>;
  /** Releases resources (file handles, sockets). Reads after close may reject. */
  close?(): Promise<void>;
}
