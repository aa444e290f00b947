/**
 * The one streaming pass over a gzip layer: decompresses it with pako's zlib port (the only
 * inflater here that reports deflate block boundaries and the exact bit position: `Z_BLOCK`
 * and `data_type`), records a checkpoint at the first block boundary after every `span` bytes
 * of output, and feeds the output to the tar header parser — so the checkpoint index and the
 * tar index come out of the same pass. The compressed bytes are read through the byte source
 * given (normally the blob cache), so the pass also fills the cache.
 *
 * Every member's CRC-32 and length are checked; multi-member files (eStargz, `cat a.gz b.gz`)
 * and headers with FEXTRA/FNAME/FCOMMENT/FHCRC are handled; zero padding after the last member
 * is tolerated, anything else is not.
 *
 * @packageDocumentation
 */
import { InvalidOptionError, throwIfAborted } from '../errors.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { readPieces } from '../io/read-stream.js';
import type { GzipIndex } from './gzip-index.js';
import { GzipPass, MAX_CHECKPOINT_SPAN, passInflater } from './gzip-pass.js';
import { TarParser, type TarParserOptions } from './tar-parser.js';

export { MAX_CHECKPOINT_SPAN } from './gzip-pass.js';

/** Default output distance between checkpoints. */
export const DEFAULT_CHECKPOINT_SPAN = 4 * 1024 * 1024;
/** Default size of the compressed pieces read from the source. */
export const DEFAULT_PASS_PIECE = 1024 * 1024;

/** Options of {@link buildGzipIndex}. */
export interface GzipIndexOptions extends ReadOptions, Omit<TarParserOptions, 'totalSize'> {
  /** Output bytes between checkpoints (default {@link DEFAULT_CHECKPOINT_SPAN}). */
  span?: number;
  /** Compressed bytes per read of the source (default {@link DEFAULT_PASS_PIECE}). */
  pieceSize?: number;
  /** Progress: compressed bytes processed and the blob size. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Run the decompression in a worker thread (default true), so that fetching and caching the
   * blob on the main thread overlap with inflating it on the other core.
   */
  worker?: boolean;
  /**
   * `native` (default when this Node has it): zlib stepped block by block, about 3x faster;
   * `pako`: the JavaScript port, which reports exact bit positions itself.
   */
  inflater?: 'native' | 'pako';
}

/** Runs the pass over a gzip blob; see the module comment. */
export async function buildGzipIndex(blob: ByteSource, options: GzipIndexOptions = {}): Promise<GzipIndex> {
  const span = options.span ?? DEFAULT_CHECKPOINT_SPAN;
  if (!Number.isSafeInteger(span) || span < 64 * 1024 || span > MAX_CHECKPOINT_SPAN / 2) {
    throw new InvalidOptionError('span', `must be an integer between 64 KiB and ${MAX_CHECKPOINT_SPAN / 2} bytes`);
  }
  const pieces = readPieces(blob, {
    pieceSize: options.pieceSize ?? DEFAULT_PASS_PIECE,
    signal: options.signal,
    readAhead: 3,
  });
  if (options.worker ?? true) {
    const { runPassInWorker } = await import('./gzip-pass-client.js');
    const inflater = passInflater(options.inflater);
    const index = await runPassInWorker(pieces, blob.size, span, { ...options, inflater });
    if (index) return index;
  }
  const pass = new GzipPass(span, new TarParser(options), passInflater(options.inflater));
  for await (const piece of pieces) {
    throwIfAborted(options.signal);
    pass.push(piece);
    options.onProgress?.(pass.consumed, blob.size);
  }
  return pass.finish(blob.size);
}
