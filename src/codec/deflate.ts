/**
 * Raw deflate (RFC 1951, no zlib/gzip header), as EROFS `-zdeflate` stores each physical cluster.
 *
 * Full decodes go through Node's zlib (native, about 3–4× the speed of the TypeScript inflater on
 * 4–64 KiB clusters, see bench/codec.ts) with `maxOutputLength` as the bound. Partial decodes use
 * {@link inflateRaw}: zlib can only throw when the output would pass its limit, not hand back the
 * first `outputSize` bytes.
 *
 * @packageDocumentation
 */
import { inflateRawSync } from 'node:zlib';
import { CorruptCompressedDataError } from './errors.js';
import { inflateRaw } from './inflate.js';
import { checkOutputSize } from './output-size.js';

/** Options of {@link deflateRawDecompress}. */
export interface DeflateDecompressOptions {
  /**
   * Return the first `outputSize` bytes even when the stream goes on (the kernel's
   * `partial_decoding`); without it the stream's final block must end exactly at `outputSize`.
   */
  partial?: boolean;
}

/**
 * Decodes a raw deflate stream into exactly `outputSize` bytes.
 *
 * @throws CorruptCompressedDataError (codec `deflate`) when the stream is corrupt or truncated, or
 *   decodes to another size than `outputSize` (or, with `partial`, to fewer bytes)
 */
export function deflateRawDecompress(input: Uint8Array, outputSize: number, options: DeflateDecompressOptions = {}): Uint8Array {
  checkOutputSize('deflate', outputSize);
  if (options.partial === true || outputSize === 0) return inflateRaw(input, outputSize, { partial: options.partial });
  let out: Buffer;
  try {
    // One output chunk one byte larger than expected: the result does not hold a slice of a
    // bigger (default 16 KiB) chunk alive, and a stream that goes on past outputSize still gets
    // to the maxOutputLength check.
    out = inflateRawSync(input, { maxOutputLength: outputSize, chunkSize: Math.max(64, outputSize + 1) });
  } catch (err) {
    throw explain(input, outputSize, err);
  }
  if (out.length !== outputSize) {
    throw new CorruptCompressedDataError('deflate', `stream decodes to ${out.length} bytes, expected ${outputSize}`, { offset: input.length, outputOffset: out.length });
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/**
 * zlib says only what went wrong, not where: decode again with the TypeScript inflater (an error
 * path, so speed does not matter) for the input and output offsets.
 */
function explain(input: Uint8Array, outputSize: number, err: unknown): CorruptCompressedDataError {
  const code = (err as { code?: unknown }).code;
  try {
    inflateRaw(input, outputSize);
  } catch (tsErr) {
    if (tsErr instanceof CorruptCompressedDataError) {
      return new CorruptCompressedDataError('deflate', String(tsErr.data.reason), { offset: tsErr.offset, outputOffset: tsErr.data.outputOffset as number }, { cause: err, data: { zlibCode: code } });
    }
  }
  const reason = code === 'ERR_BUFFER_TOO_LARGE' ? `stream decodes to more than ${outputSize} bytes` : String((err as Error).message);
  return new CorruptCompressedDataError('deflate', reason, { offset: 0 }, { cause: err, data: { zlibCode: code } });
}
