export {
  openTarLayer,
  layerCompression,
  sniffCompression,
  type OpenTarLayerOptions,
  type TarLayer,
  type LayerFormat,
  type LayerCompression,
} from './open-layer.js';
export { TarFileSystem, IMPLICIT_DIR_MODE } from './tar-fs.js';
export type { TarEntry, TarEntryType, SparseSegment } from './tar-entry.js';
export { scanTar, loadOrScanTar, DEFAULT_HEADER_READAHEAD, type ScanTarOptions } from './tar-scan.js';
export {
  TarParser,
  DEFAULT_MAX_EXTENDED_HEADER,
  DEFAULT_MAX_SPARSE_SEGMENTS,
  type TarParserOptions,
  type ParserNeed,
} from './tar-parser.js';
export { TAR_INDEX_NAME, TAR_INDEX_VERSION, encodeTarIndex, decodeTarIndex, type TarIndex } from './tar-index.js';
export { MemoryIndexStore, type IndexStore } from './index-store.js';
export {
  GZIP_INDEX_NAME,
  GZIP_INDEX_VERSION,
  WINDOW_SIZE,
  encodeGzipIndex,
  decodeGzipIndex,
  checkpointWindow,
  packWindow,
  type GzipIndex,
  type GzipCheckpoint,
} from './gzip-index.js';
export { buildGzipIndex, DEFAULT_CHECKPOINT_SPAN, MAX_CHECKPOINT_SPAN, type GzipIndexOptions } from './gzip-indexer.js';
export { GzipIndexedSource, DEFAULT_SPAN_CACHE_BYTES, type GzipIndexedSourceOptions } from './gzip-indexed-source.js';
export { openGzipLayer, loadOrBuildGzipIndex, type GzipLayer, type GzipLayerOptions } from './gzip-layer.js';
export {
  openEstargzLayer,
  detectEstargz,
  parseEstargzFooter,
  TOC_DIGEST_ANNOTATION,
  type EstargzOptions,
  type TocLayer,
} from './estargz.js';
export {
  openZstdChunkedLayer,
  detectZstdChunked,
  parseZstdChunkedFooter,
  ZSTD_CHUNKED_MANIFEST_CHECKSUM,
  ZSTD_CHUNKED_MANIFEST_POSITION,
  LEGACY_ZSTD_CHUNKED_MANIFEST_CHECKSUM,
  LEGACY_ZSTD_CHUNKED_MANIFEST_POSITION,
  type ZstdChunkedOptions,
} from './zstd-chunked.js';
export {
  openZstdLayer,
  buildZstdIndex,
  ZstdFramesSource,
  ZSTD_INDEX_NAME,
  DEFAULT_MAX_FRAME_SPAN,
  type ZstdIndex,
  type ZstdLayer,
  type ZstdLayerOptions,
} from './zstd-layer.js';
export { TempDerivedBlobStore, type DerivedBlobStore, type DerivedBlobWriter } from './derived-blob.js';
export {
  parseSociIndex,
  loadZtoc,
  verifyZtocAgainstLayer,
  openSociLayer,
  SociFileSystem,
  SOCI_INDEX_V1,
  SOCI_INDEX_V2,
  SOCI_LAYER_DIGEST,
  SOCI_LAYER_MEDIA_TYPE,
  SOCI_INDEX_DIGEST_ANNOTATION,
  MAX_ZTOC_SIZE,
  type SociIndex,
  type ZtocDescriptor,
  type Ztoc,
} from './soci.js';
export { TocSource, DEFAULT_MAX_MEMORY_CHUNK, type TocSourceOptions } from './toc-source.js';
export { gzipChunkCodec, zstdChunkCodec, type ChunkCodec, type ChunkDecoder } from './chunk-codec.js';
export {
  CorruptTarError,
  CorruptGzipError,
  CorruptIndexError,
  CorruptTocError,
  UnsupportedLayerError,
  ExternalHardlinkError,
} from './errors.js';
export { NotARegularFileError } from '../errors.js';
