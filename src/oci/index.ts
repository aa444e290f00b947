export * from './media-types.js';
export { BadManifestError, PlatformNotFoundError, InvalidPlatformError, NotALayoutError } from './errors.js';
export { parseDescriptor, parsePlatformObject, type Descriptor } from './descriptor.js';
export {
  parseManifestDocument,
  parseImageManifest,
  parseImageIndex,
  parseJsonBytes,
  DEFAULT_MAX_MANIFEST_SIZE,
  type ImageManifest,
  type ImageIndex,
  type ManifestDocument,
} from './manifest.js';
export {
  parseImageConfig,
  configPlatform,
  DEFAULT_MAX_CONFIG_SIZE,
  type ImageConfig,
  type ImageRuntimeConfig,
  type HistoryEntry,
} from './image-config.js';
export {
  parsePlatform,
  formatPlatform,
  normalizePlatform,
  hostPlatform,
  platformRank,
  selectPlatform,
  type Platform,
} from './platform.js';
