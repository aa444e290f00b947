/**
 * One entry point over all decompressors, for format readers that learn the algorithm from
 * on-disk data (EROFS's per-cluster algorithm, a tar layer's media type).
 *
 * @packageDocumentation
 */
import { deflateRawDecompress } from './deflate.js';
import { UnsupportedCodecError, type CodecName } from './errors.js';
import { lz4DecompressBlock } from './lz4.js';
import { microLzmaDecompress } from './microlzma.js';
import { zstdDecompress } from './zstd/decompress.js';

/** Options of {@link decompress}; each applies to the codecs that name it. */
export interface DecompressOptions {
  /**
   * lz4, deflate, lzma, zstd: return the first `outputSize` bytes even if the data goes on
   * (EROFS partial decoding). Without it the data must decode to exactly `outputSize` bytes.
   */
  partial?: boolean;
  /** lzma (MicroLZMA): the dictionary size the stream was made with (EROFS: `dict_size` of the lzma config). */
  dictSize?: number;
}

/**
 * Decodes `input` with `algorithm` into exactly `outputSize` bytes.
 *
 * @throws CorruptCompressedDataError (`ERR_OCIFS_CORRUPT_COMPRESSED_DATA`) on corrupt or truncated
 *   input or a size mismatch; UnsupportedCodecError for an unknown algorithm
 */
export function decompress(
  algorithm: CodecName,
  input: Uint8Array,
  outputSize: number,
  options: DecompressOptions = {},
): Uint8Array {
  switch (algorithm) {
    case 'lz4':
      return lz4DecompressBlock(input, outputSize, { partial: options.partial });
    case 'deflate':
      return deflateRawDecompress(input, outputSize, { partial: options.partial });
    case 'lzma':
      return microLzmaDecompress(input, outputSize, { partial: options.partial, dictSize: options.dictSize });
    case 'zstd':
      return zstdDecompress(input, outputSize, { partial: options.partial });
    default:
      throw new UnsupportedCodecError(String(algorithm), 'no decoder for this algorithm');
  }
}
