export type { BuildEntry, BuildEntryType, ContentPiece } from './entry.js';
export { tarStreamEntries } from './tar-entries.js';
export { tarLayerEntries, decompressedChunks, type TarCompression } from './layer-stream.js';
export { fsEntries, fsEntryAt, type FsEntriesOptions } from './fs-entries.js';
export {
  ErofsWriter,
  EROFS_BLOCK_SIZE,
  DEFAULT_TAIL_BUDGET,
  type ErofsWriterOptions,
  type ErofsImageInfo,
} from './erofs/writer.js';
export { EROFS_COMPRESSIONS, type ErofsCompression } from './erofs/compress.js';
export {
  EstargzWriter,
  estargzFooter,
  DEFAULT_ESTARGZ_CHUNK_SIZE,
  UNCOMPRESSED_SIZE_ANNOTATION,
  type EstargzWriterOptions,
  type EstargzResult,
} from './estargz-writer.js';
export { estargzOrder } from './estargz-order.js';
export {
  ZstdChunkedWriter,
  ZSTD_CHUNKED_TARSPLIT_POSITION,
  type ZstdChunkedWriterOptions,
  type ZstdChunkedResult,
} from './zstd-chunked-writer.js';
export { DigestingSink, type ByteSink } from './sink.js';
export { DirHistory, type DirMeta } from './dir-history.js';
export { UnconvertibleEntryError } from './errors.js';
export * from './soci/index.js';
