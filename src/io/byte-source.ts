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
  /**
   * A hint from a reader that knows its structure: bytes at or past this offset (in this
   * source's coordinates) will not be wanted soon, so readahead this read triggers stops there
   * (a file's data ends there; metadata reads pass their own end). Sources without readahead
   * ignore it; wrappers that shift offsets shift it too.
   */
  readaheadLimit?: number;
  /**
   * The read is part of a walk over much of a structure (listing a whole tree, extracting it):
   * a reader that would otherwise limit readahead behind its metadata reads lets it run, since
   * the next metadata is likely near.
   */
  scan?: boolean;
  /**
   * For `fileSpans`/`encodedSpans` only: spans may also cover bytes a cache holds but has not
   * verified yet (its blob is still incomplete, so its digest cannot be checked). The caller
   * checks the blob itself when done (`BackgroundFill.finish`), as it must for bytes `read`
   * returned before the blob was whole.
   */
  unverified?: boolean;
}

/**
 * Receives bytes a source obtained beyond what was asked: a registry that ignores a Range
 * header sends the whole blob, and a cache wrapping the source keeps those bytes instead of
 * asking again. Called in offset order; the source awaits each call, so the sink applies
 * backpressure.
 */
export type ExtraBytesSink = (offset: number, bytes: Uint8Array) => Promise<void>;

/**
 * Where some bytes of a source lie in a local file: `length` bytes at `position` of the file open
 * as `fd`. Lets a consumer move the bytes with the kernel (pread/pwrite on another thread, no
 * copy through JavaScript) instead of calling `read`.
 */
export interface FileSpan {
  /** A descriptor of the file, open as long as the source is. */
  fd: number;
  /**
   * `st_dev:st_ino` of the file (decimal). A consumer that uses the descriptor later, or on
   * another thread, checks it still names the same file (a closed descriptor's number may have
   * been reused); reopening `/proc/self/fd/<fd>` and comparing is the Linux way.
   */
  fileId: string;
  /** Byte offset in the file. */
  position: number;
  /** Number of bytes (at least 1). */
  length: number;
}

/**
 * A piece of a source's content in a local file, possibly encoded: a {@link FileSpan} plus how
 * its bytes become content. Without `encoding` the span's bytes are the content.
 */
export interface EncodedSpan extends FileSpan {
  /** `lz4-block`: a raw LZ4 block (no frame) that decodes to exactly `decodedLength` bytes. */
  encoding?: 'lz4-block';
  /** Content bytes an encoded span yields. */
  decodedLength?: number;
  /**
   * With an encoding: zero bytes at the start of the span, among its first `zeroPadLimit`
   * bytes, precede the block and are skipped (EROFS's 0-padding); a span that holds only zeros
   * there is corrupt.
   */
  zeroPadLimit?: number;
}

/** Options of {@link ByteSource.encodedSpans}. */
export interface EncodedSpanOptions extends ReadOptions {
  /** Encodings the caller can decode; content in others is not offered. */
  encodings?: readonly string[];
}

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
  /**
   * Optional capability: the local-file spans holding `[offset, offset + length)` (cut short at
   * `size` like `read`), in order and covering it exactly, or `undefined` when some of it is not
   * in a local file right now (remote, compressed, zeros, not yet cached) — then use `read`. The
   * spans hold exactly the bytes `read` would return, for as long as the source is open. A range
   * outside the source rejects like `read`. Wrappers that only move offsets (slices) pass it
   * through; wrappers that change bytes must not.
   */
  fileSpans?(offset: number, length: number, options?: ReadOptions): Promise<FileSpan[] | undefined>;
  /**
   * Optional capability, like {@link fileSpans} for content that is stored encoded (a
   * compressed filesystem's clusters): the spans, decoded in order and concatenated, are
   * exactly `read(offset, length)`. Undefined when the range cannot be given that way (not in
   * local files, an encoding the caller did not accept, a range that cuts an encoded unit):
   * use `read`. A range outside the source rejects like `read`.
   */
  encodedSpans?(offset: number, length: number, options?: EncodedSpanOptions): Promise<EncodedSpan[] | undefined>;
  /** Releases resources (file handles, sockets). Reads after close may reject. */
  close?(): Promise<void>;
}
