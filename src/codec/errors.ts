/**
 * Errors of the decompressors.
 *
 * @packageDocumentation
 */
import { OcifsError, type OcifsErrorOptions } from '../errors.js';

/** The compression algorithms ocifs decodes. */
export type CodecName = 'lz4' | 'lzma' | 'deflate' | 'zstd';

/** Where in the input (and output) a decoder found data it cannot decode. */
export interface CorruptCompressedDataDetails {
  /** Byte offset in the compressed input at which decoding failed (as near as the codec can tell). */
  offset: number;
  /** Bytes of output produced before the failure, when the decoder knows it. */
  outputOffset?: number;
}

/**
 * Compressed bytes cannot be decoded: truncated, corrupt, or they decode to a different size than
 * the caller said. Decoders throw this and never return partial or garbage output.
 * Code `ERR_OCIFS_CORRUPT_COMPRESSED_DATA`; data holds `codec`, `offset` and (when known)
 * `outputOffset`.
 */
export class CorruptCompressedDataError extends OcifsError {
  /** The codec that failed. */
  readonly codec: CodecName;
  /** Offset in the compressed input where decoding failed. */
  readonly offset: number;

  constructor(
    codec: CodecName,
    reason: string,
    details: CorruptCompressedDataDetails,
    options: OcifsErrorOptions = {},
  ) {
    const at =
      details.outputOffset === undefined
        ? `input offset ${details.offset}`
        : `input offset ${details.offset}, output offset ${details.outputOffset}`;
    super('ERR_OCIFS_CORRUPT_COMPRESSED_DATA', `corrupt ${codec} data at ${at}: ${reason}`, {
      ...options,
      data: { codec, reason, ...details, ...options.data },
    });
    this.codec = codec;
    this.offset = details.offset;
  }
}

/** A compression algorithm (or a feature of one) that ocifs does not decode. Code `ERR_OCIFS_UNSUPPORTED_CODEC`. */
export class UnsupportedCodecError extends OcifsError {
  constructor(codec: string, reason: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_UNSUPPORTED_CODEC', `unsupported compression ${codec}: ${reason}`, {
      ...options,
      data: { codec, reason, ...options.data },
    });
  }
}
