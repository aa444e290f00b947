export {
  CorruptCompressedDataError,
  UnsupportedCodecError,
  type CodecName,
  type CorruptCompressedDataDetails,
} from './errors.js';
export { MAX_OUTPUT_SIZE } from './output-size.js';
export { stripZeroPadding } from './zero-padding.js';
export { lz4DecompressBlock, lz4NativeAvailable, type Lz4DecompressOptions } from './lz4.js';
export { deflateRawDecompress, type DeflateDecompressOptions } from './deflate.js';
export { decompress, type DecompressOptions } from './decompress.js';
export {
  microLzmaDecompress,
  MIN_LZMA_DICT_SIZE,
  MAX_LZMA_DICT_SIZE,
  type MicroLzmaDecompressOptions,
} from './microlzma.js';
export { decodeLzma, parseLzmaProperties, type LzmaProperties, type LzmaDecodeRequest } from './lzma-decoder.js';
export { zstdDecompress, type ZstdDecompressOptions } from './zstd/decompress.js';
export {
  createZstdDecoder,
  zstdDecompressStream,
  ZstdStreamDecoder,
  DEFAULT_ZSTD_MAX_WINDOW_SIZE,
  type ZstdStreamOptions,
  type ZstdStreamFrame,
} from './zstd/stream.js';
export {
  scanZstdFrames,
  parseZstdFrameHeader,
  ZSTD_MAGIC,
  ZSTD_SKIPPABLE_MAGIC_MIN,
  type ZstdFrameHeader,
  type ZstdFrameInfo,
} from './zstd/frame.js';
