export { mountFileSystem, defaultBackend, type FileSystemMountOptions } from './mount-file-system.js';
export {
  mountKernel,
  looksLikeErofs,
  EROFS_SUPER_MAGIC_V1,
  BACKING_FILE_NAME,
  type KernelMount,
  type KernelMountOptions,
} from './mount-kernel.js';
export {
  DEFAULT_CACHE_TIMEOUT,
  DEFAULT_MAX_READ,
  DEFAULT_MAX_READAHEAD,
  DEFAULT_OPERATION_TIMEOUT_MS,
  type Mount,
  type MountOptions,
} from './mount-options.js';
export { MountStats } from './mount-stats.js';
export { serveMount, DEFAULT_RECORD_INTERVAL_MS, type MountSpec, type ServeOptions } from './serve-mount.js';
export { startMountDaemon, DEFAULT_START_TIMEOUT_MS, type DaemonOptions } from './daemon.js';
export { listMounts, unmount, DEFAULT_UNMOUNT_TIMEOUT_MS, type ManageOptions } from './manage.js';
export type { MountRecord, PrefetchProgress } from './mount-record.js';
export {
  openMountSource,
  type MountSourceSpec,
  type MountImageOptions,
  type OpenedSource,
  type SourceOpener,
} from './mount-source.js';
export { defaultStateDir } from './state-dir.js';
export { checkFuseAvailable } from './fuse-binding.js';
export {
  DEFAULT_PATH_CACHE_ENTRIES,
  DEFAULT_XATTR_CACHE_ENTRIES,
  DEFAULT_SOURCE_CACHE_ENTRIES,
  DEFAULT_DIR_CACHE_ENTRIES,
  DEFAULT_SYMLINK_CACHE_ENTRIES,
} from './tree-caches.js';
export {
  MountError,
  MountpointMissingError,
  MountpointNotDirectoryError,
  MountpointBusyError,
  FuseUnavailableError,
  NotRootError,
  KernelNotErofsError,
  KernelNeedsOneLayerError,
  UnknownMountSourceError,
  MountFailedError,
  UnmountFailedError,
  NotMountedError,
} from './errors.js';
