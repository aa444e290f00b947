export {
  buildZtocs,
  sociBuildSettings,
  DEFAULT_SOCI_SPAN,
  DEFAULT_MIN_LAYER_SIZE,
  type BuildZtocsOptions,
  type BuiltZtoc,
  type LayerZtoc,
} from './build-ztocs.js';
export { pushSociIndex, type PushSociOptions, type PushedSociIndex } from './push-soci.js';
export {
  sociIndexManifest,
  annotatedManifest,
  sociImageIndex,
  EMPTY_CONFIG,
  ZTOC_MEDIA_TYPE,
  SOCI_SPAN_SIZE,
  SOCI_BUILD_TOOL,
  SOCI_IMAGE_MANIFEST_DIGEST,
  type ZtocRef,
  type BuiltManifest,
} from './soci-index.js';
export {
  writeZtoc,
  ztocCanDescribe,
  rfc3339,
  ZTOC_VERSION,
  ZTOC_GZIP,
  ZTOC_UNCOMPRESSED,
  type ZtocContent,
} from './ztoc-writer.js';
export {
  packGzipZinfo,
  packTarZinfo,
  gzipSpanRanges,
  tarSpanRanges,
  spanDigests,
  GZIP_ZINFO_VERSION,
  PACKED_CHECKPOINT_SIZE,
  type ByteRange,
} from './zinfo.js';
