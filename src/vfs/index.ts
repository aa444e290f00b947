export type { FileSystem, Inode, DirEntry, FileType, FsStats } from './types.js';
export { TYPE_BITS, S_IFMT } from './types.js';
export {
  NotADirectoryError,
  IsADirectoryError,
  NotASymlinkError,
  SymlinkLoopError,
  DeviceNumberError,
} from './errors.js';
export { DirectoryCycleError, UnsafeNameError, InodeRangeError } from './tool-errors.js';
export { makeRdev, splitRdev, MAX_RDEV_MAJOR, MAX_RDEV_MINOR } from './device.js';
export {
  resolvePath,
  resolveEntry,
  normalizePath,
  joinPath,
  DEFAULT_MAX_SYMLINKS,
  type ResolveOptions,
  type ResolvedPath,
} from './path.js';
export {
  walk,
  walkDirectories,
  isSafeName,
  TreeGuard,
  DEFAULT_WALK_PREFETCH,
  type WalkEntry,
  type WalkOptions,
  type DirectoryVisit,
  type DirectoryWalkOptions,
} from './walk.js';
export { MergedFileSystem, type MergeLayer, type MergedFileSystemOptions, type WhiteoutFormat } from './merge.js';
export { OverlayLayerFileSystem, overlayLayerView, OVERLAY_OPAQUE_XATTR } from './overlay-layer.js';
export { MemoryFs, type MemoryEntry } from './memory-fs.js';
