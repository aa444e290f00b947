export { CorruptCompressedDataError, UnsupportedCodecError, type CodecName, type CorruptCompressedDataDetails } from './errors.js';
export { MAX_OUTPUT_SIZE } from './output-size.js';
export { stripZeroPadding } from './zero-padding.js';
export { lz4DecompressBlock, type Lz4DecompressOptions } from './lz4.js';
export { deflateRawDecompress, type DeflateDecompressOptions } from './deflate.js';
export { inflateRaw, type InflateRawOptions } from './inflate.js';
export { decompress, type DecompressOptions } from './decompress.js';
export { microLzmaDecompress, MIN_LZMA_DICT_SIZE, MAX_LZMA_DICT_SIZE, type MicroLzmaDecompressOptions } from './microlzma.js';
export { decodeLzma, parseLzmaProperties, type LzmaProperties, type LzmaDecodeRequest } from './lzma-decoder.js';
