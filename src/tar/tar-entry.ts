/**
 * One member of a tar archive as the index keeps it: everything needed to answer getattr,
 * readdir, readlink, listxattr and reads, and nothing of the archive's encoding.
 *
 * @packageDocumentation
 */
import type { FileType } from '../vfs/types.js';

/** What a tar member is. `hardlink` names another member by path (`linkName`). */
export type TarEntryType = FileType | 'hardlink';

/** One data segment of a sparse file: `length` bytes at logical `offset`, stored consecutively. */
export interface SparseSegment {
  offset: number;
  length: number;
}

/** A member of a tar archive. */
export interface TarEntry {
  /**
   * Normalised path: no leading `/` or `./`, no empty, `.` or `..` components, no trailing
   * slash. The archive root (`./`) is the empty string.
   */
  path: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (`mode & 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  mtimeSec: number;
  mtimeNsec: number;
  /** Logical size of a file's content (the real size for sparse files); 0 for others. */
  size: number;
  /** Offset of the member's data in the (uncompressed) tar stream. */
  dataOffset: number;
  /** Bytes of data stored in the archive (differs from `size` for sparse files). */
  storedSize: number;
  /** Offset of the member's first header (including pax/GNU extension headers). */
  headerOffset: number;
  /** Symlink target (as stored) or hardlink target (a normalised path). */
  linkName?: string;
  devMajor?: number;
  devMinor?: number;
  /** Extended attributes by full name (`user.x`, `security.capability`). */
  xattrs?: Map<string, Uint8Array>;
  /** For sparse files: the data segments in order; everything else reads as zeros. */
  sparse?: SparseSegment[];
}
