/**
 * ocifs: read container images in OCI registries on demand.
 *
 * @packageDocumentation
 */
export * from './errors.js';
export * from './io/index.js';
export * from './ref/index.js';
export * from './oci/index.js';
export * from './registry/index.js';
export * from './config/index.js';
export * from './cache/index.js';
export * from './image/index.js';
export type { FileSystem, Inode, DirEntry, FileType, FsStats } from './vfs/types.js';
export { TYPE_BITS, S_IFMT } from './vfs/types.js';
export {
  NotADirectoryError,
  IsADirectoryError,
  NotASymlinkError,
  SymlinkLoopError,
  DeviceNumberError,
} from './vfs/errors.js';
export {
  DirectoryCycleError,
  UnsafeNameError,
  ExtractConflictError,
  InodeRangeError,
  ExtractIoError,
  ContentSizeError,
  ContentDecodeError,
} from './vfs/tool-errors.js';
export { makeRdev, splitRdev, MAX_RDEV_MAJOR, MAX_RDEV_MINOR } from './vfs/device.js';
export { resolvePath, resolveEntry, normalizePath, joinPath, DEFAULT_MAX_SYMLINKS, type ResolveOptions, type ResolvedPath } from './vfs/path.js';
export { walk, isSafeName, DEFAULT_WALK_PREFETCH, type WalkEntry, type WalkOptions } from './vfs/walk.js';
export { extractTree, measureTree, DEFAULT_EXTRACT_CONCURRENCY, type ExtractOptions, type ExtractResult, type ExtractProgress, type ExtractWarning } from './vfs/extract.js';
export { MergedFileSystem, type MergeLayer, type MergedFileSystemOptions, type WhiteoutFormat } from './vfs/merge.js';
export { OverlayLayerFileSystem, overlayLayerView, OVERLAY_OPAQUE_XATTR } from './vfs/overlay-layer.js';
export { MemoryFs, type MemoryEntry } from './vfs/memory-fs.js';
export {
  openErofs,
  isErofs,
  ErofsFileSystem,
  erofsInfo,
  formatErofsInfo,
  CorruptErofsError,
  NotErofsError,
  UnsupportedErofsError,
  type ErofsOptions,
  type ErofsInfo,
} from './erofs/index.js';
export {
  openTarLayer,
  TarFileSystem,
  CorruptTarError,
  CorruptGzipError,
  CorruptIndexError,
  CorruptTocError,
  MemoryIndexStore,
  type IndexStore,
  type OpenTarLayerOptions,
  type TarLayer,
} from './tar/index.js';
export { decompress, CorruptCompressedDataError, UnsupportedCodecError, scanZstdFrames, createZstdDecoder } from './codec/index.js';
export { serveLayout, NotALayoutError, type LayoutRegistry, type ServeLayoutOptions } from './serve/layout-registry.js';
export * from './mount/index.js';
export {
  buildZtocs,
  pushSociIndex,
  sociIndexManifest,
  writeZtoc,
  packGzipZinfo,
  packTarZinfo,
  spanDigests,
  DEFAULT_SOCI_SPAN,
  DEFAULT_MIN_LAYER_SIZE,
  type BuildZtocsOptions,
  type BuiltZtoc,
  type LayerZtoc,
  type PushSociOptions,
  type PushedSociIndex,
  type ZtocContent,
} from './build/soci/index.js';
export {
  startWebServer,
  imagePath,
  DEFAULT_WEB_HOST,
  NotAPictureError,
  WebAssetsError,
  RangeNotSatisfiableError,
  type WebServer,
  type WebServerOptions,
} from './web/index.js';
