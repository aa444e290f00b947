/**
 * The read-only filesystem interface that every image format implements (EROFS, tar layers,
 * the merged multi-layer view) and every tool consumes (ls, cat, stat, extract, FUSE mount).
 *
 * Inodes are addressed by a number that is stable for the life of the filesystem object and
 * shared by hardlinks. Names are strings decoded from the on-disk bytes as UTF-8.
 *
 * @packageDocumentation
 */
import type { ByteSource, ReadOptions } from '../io/byte-source.js';

/** File types, as POSIX knows them. */
export type FileType = 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket';

/** `S_IFMT` bits of each {@link FileType}. */
export const S_IFMT = 0o170000;
export const TYPE_BITS: Readonly<Record<FileType, number>> = {
  socket: 0o140000,
  symlink: 0o120000,
  file: 0o100000,
  blockdev: 0o060000,
  dir: 0o040000,
  chardev: 0o020000,
  fifo: 0o010000,
};

/** Metadata of one inode. */
export interface Inode {
  /** Inode number: stable, unique within the filesystem, shared by hardlinks. */
  ino: number;
  type: FileType;
  /** Full `st_mode`: type bits plus permission bits (incl. setuid/setgid/sticky). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of content (files), target length (symlinks), format-defined for directories. */
  size: number;
  /** Modification time: whole seconds since the epoch and nanoseconds. */
  mtimeSec: number;
  mtimeNsec: number;
  nlink: number;
  /** Device number for chardev/blockdev (Linux encoding, as `st_rdev`), else 0. */
  rdev: number;
}

/** One directory entry. `.` and `..` are never listed. */
export interface DirEntry {
  name: string;
  ino: number;
  type: FileType;
}

/** Filesystem-wide numbers, for statfs and `info`. */
export interface FsStats {
  blockSize: number;
  /** Total blocks the image occupies. */
  blocks: number;
  /** Number of inodes, when the format knows it. */
  files: number;
  /** Longest name the format allows. */
  nameMax: number;
}

/**
 * A read-only filesystem. All methods are async and take an optional AbortSignal.
 * Errors: `ERR_OCIFS_NOT_FOUND` for a missing name, `ERR_OCIFS_NOT_A_DIRECTORY`,
 * `ERR_OCIFS_IS_A_DIRECTORY`, `ERR_OCIFS_NOT_A_SYMLINK` (see `vfs/errors.ts`), and
 * format-specific `ERR_OCIFS_CORRUPT_*` errors naming the inode or block for bad images.
 */
export interface FileSystem {
  /** Inode number of the root directory. */
  readonly rootIno: number;
  /** Metadata of an inode. */
  getattr(ino: number, options?: ReadOptions): Promise<Inode>;
  /** The entry `name` in directory `dirIno`, or `undefined` when it does not exist. */
  lookup(dirIno: number, name: string, options?: ReadOptions): Promise<Inode | undefined>;
  /**
   * The entries of a directory, in the format's order, streamed so that huge directories
   * need bounded memory. `.` and `..` are not included.
   */
  readdir(dirIno: number, options?: ReadOptions): AsyncIterable<DirEntry>;
  /** Target of a symlink. */
  readlink(ino: number, options?: ReadOptions): Promise<string>;
  /** The content of a regular file as a byte source (cheap; no I/O until read). */
  openFile(ino: number, options?: ReadOptions): Promise<ByteSource>;
  /** Extended attributes, full names (`user.x`, `trusted.overlay.opaque`, `security.capability`). */
  listxattr(ino: number, options?: ReadOptions): Promise<Map<string, Uint8Array>>;
  /** Filesystem-wide numbers. */
  statfs(): FsStats;
  /**
   * Format-specific details of an inode for `ocifs stat` (EROFS: inode version, data layout,
   * blocks; tar: header offset …). Optional: formats without details leave it out.
   */
  inodeDetails?(ino: number, options?: ReadOptions): Promise<Record<string, unknown>>;
  /** Releases what the filesystem holds (not the underlying sources it was given). */
  close?(): Promise<void>;
}
