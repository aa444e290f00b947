export { openErofs, isErofs, ErofsFileSystem, type ErofsOptions } from './erofs-fs.js';
export {
  DEFAULT_EROFS_META_CACHE_BYTES,
  DEFAULT_EROFS_CLUSTER_CACHE_BYTES,
  DEFAULT_EROFS_INODE_CACHE_SIZE,
  DEFAULT_EROFS_MAX_SYMLINK_SIZE,
} from './erofs-fs.js';
export { erofsInfo, formatErofsInfo, type ErofsInfo } from './summary.js';
export type { ErofsSuperblock, ErofsCompressionConfigs, ErofsDeviceSlot } from './superblock.js';
export type { ErofsInodeDetails } from './inode.js';
export {
  CorruptErofsError,
  NotErofsError,
  UnsupportedErofsError,
  ErofsChecksumError,
  ErofsDeviceMissingError,
  type ErofsLocation,
} from './errors.js';
