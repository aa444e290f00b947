/**
 * MicroLZMA, the framing EROFS `-zlzma` uses for each physical cluster (xz's
 * `lzma_microlzma_encoder`, the kernel's `xz_dec_microlzma`): a raw LZMA1 stream whose first byte
 * — always 0 in LZMA's range coder — is replaced by the bitwise NOT of the properties byte
 * (lc/lp/pb). There is no end marker; the compressed size is the input's length and the
 * uncompressed size is known (exactly, or as an upper bound when only a head is wanted).
 *
 * @packageDocumentation
 */
import { InvalidOptionError } from '../errors.js';
import { CorruptCompressedDataError } from './errors.js';
import { decodeLzma, parseLzmaProperties } from './lzma-decoder.js';
import { checkOutputSize } from './output-size.js';

/** Smallest dictionary size accepted (xz-embedded's limit). */
export const MIN_LZMA_DICT_SIZE = 4096;
/** Largest dictionary size accepted (3 GiB, xz-embedded's limit). */
export const MAX_LZMA_DICT_SIZE = 3 * 2 ** 30;

/** Options of {@link microLzmaDecompress}. */
export interface MicroLzmaDecompressOptions {
  /**
   * Dictionary size the stream was made with (EROFS: `dict_size` of `struct
   * z_erofs_lzma_cfgs`); match distances beyond it are corrupt. Default: no limit beyond the
   * output itself.
   */
  dictSize?: number;
  /**
   * Return the first `outputSize` bytes and ignore the rest of the stream (xz's
   * `uncomp_size_is_exact = false`, the kernel's partial decoding). Without it the stream must
   * decode to exactly `outputSize` bytes and end exactly at the end of the input with the range
   * coder finished, as xz-embedded checks in its pedantic mode.
   */
  partial?: boolean;
}

/**
 * Decodes one MicroLZMA stream into exactly `outputSize` bytes.
 *
 * @param input the stream (EROFS: the cluster after its 0-padding); its length is the compressed size
 * @throws CorruptCompressedDataError (codec `lzma`) on invalid properties, corrupt or truncated data,
 *   or a size mismatch
 */
export function microLzmaDecompress(
  input: Uint8Array,
  outputSize: number,
  options: MicroLzmaDecompressOptions = {},
): Uint8Array {
  checkOutputSize('lzma', outputSize);
  const dictSize = options.dictSize ?? MAX_LZMA_DICT_SIZE;
  if (!Number.isSafeInteger(dictSize) || dictSize < MIN_LZMA_DICT_SIZE || dictSize > MAX_LZMA_DICT_SIZE) {
    throw new InvalidOptionError(
      'dictSize',
      `must be an integer from ${MIN_LZMA_DICT_SIZE} to ${MAX_LZMA_DICT_SIZE}, got ${dictSize}`,
    );
  }
  if (input.length === 0) throw new CorruptCompressedDataError('lzma', 'empty stream', { offset: 0 });
  const propsByte = ~input[0] & 0xff;
  const props = parseLzmaProperties(propsByte);
  if (!props)
    throw new CorruptCompressedDataError(
      'lzma',
      `invalid properties byte 0x${propsByte.toString(16)} (stored as 0x${input[0].toString(16)})`,
      { offset: 0 },
    );
  return decodeLzma(input, outputSize, {
    props,
    dictSize,
    start: 0,
    firstByteChecked: false,
    exact: options.partial !== true,
  });
}
