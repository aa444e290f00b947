export { Image, openImage, type ImageOptions, type BlobSelector } from './image.js';
export { ImageBlob, type BlobInfo } from './image-blob.js';
export { startBackgroundFill, type BackgroundFill } from './background-fill.js';
export { defaultCacheDir } from './cache-dir.js';
export type { BlobIndexStore } from './cache-stores.js';
export { detectLayerFormat, UnknownLayerFormatError, type LayerFormat } from './layer-format.js';
export { openLayerFileSystem, summarizeLayerFileSystem, type LayerFsOptions, type LayerSummary } from './layer-fs.js';
export { LazyFileSystem } from './lazy-fs.js';
export { isLocalImagePath, localImagePath } from './local-path.js';
