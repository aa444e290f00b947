/**
 * What a writer consumes: the entries of one tree in a stream, each with its metadata and, for a
 * regular file, its content as pieces read once in order. Two sources make them — a tar stream
 * read sequentially (`tar-entries.ts`: one pass, nothing held) and a walk over any
 * {@link FileSystem} (`fs-entries.ts`: EROFS layers, the merged view) — so every writer serves
 * every source format.
 *
 * @packageDocumentation
 */
import type { FileType } from '../vfs/types.js';

/** An entry's kind: a file type, or a hardlink to an earlier entry (`linkName`). */
export type BuildEntryType = FileType | 'hardlink';

/** A piece of file content: `data` at logical `offset`. A gap between pieces is a hole (zeros). */
export interface ContentPiece {
  offset: number;
  data: Uint8Array;
}

/** One entry of a tree. */
export interface BuildEntry {
  /**
   * Normalised path: no leading `/` or `./`, no empty, `.` or `..` components, no trailing
   * slash; `''` is the root directory.
   */
  path: string;
  type: BuildEntryType;
  /** Permission bits with setuid/setgid/sticky (`& 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  mtimeSec: number;
  mtimeNsec: number;
  /** Logical size of a regular file's content (holes included); 0 for other types. */
  size: number;
  /** Device number of a chardev/blockdev in the Linux `st_rdev` encoding, else 0. */
  rdev: number;
  /** Symlink target, or the path (normalised) of the entry a hardlink shares its inode with. */
  linkName?: string;
  /** Extended attributes by full name. */
  xattrs?: Map<string, Uint8Array>;
  /**
   * Content of a regular file with `size > 0`: pieces in increasing offset order, covering at
   * most `[0, size)`; what no piece covers reads as zeros. One-shot: it must be read (or left)
   * before the next entry is asked for, and a source drains what is left.
   */
  content?: AsyncIterable<ContentPiece>;
  /** True when the content has holes the source knows of (a sparse tar member). */
  sparse?: boolean;
  /**
   * For a hardlink: the linked file as a regular-file entry at this path, content included,
   * for a writer that cannot link to it (flattening, where a higher layer hid the target).
   */
  resolve?: () => Promise<BuildEntry>;
}

/** True for an overlayfs whiteout: a character device 0/0. */
export function isOverlayWhiteout(e: Pick<BuildEntry, 'type' | 'rdev'>): boolean {
  return e.type === 'chardev' && e.rdev === 0;
}

/** The parent of a normalised path (`''` for a top-level name) and its last component. */
export function splitPath(path: string): { parent: string; name: string } {
  const i = path.lastIndexOf('/');
  return i < 0 ? { parent: '', name: path } : { parent: path.slice(0, i), name: path.slice(i + 1) };
}

/** Reads a content stream into one buffer of `size` bytes (holes as zeros). For small files. */
export async function readAllContent(
  content: AsyncIterable<ContentPiece> | undefined,
  size: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  if (content) for await (const p of content) out.set(p.data.subarray(0, Math.max(0, size - p.offset)), p.offset);
  return out;
}

/** The content of a file as contiguous chunks, holes filled with zeros (for formats without holes). */
export async function* denseContent(
  content: AsyncIterable<ContentPiece> | undefined,
  size: number,
  zeroChunk = 1 << 20,
): AsyncGenerator<Uint8Array> {
  let at = 0;
  const zeros = (n: number) => new Uint8Array(Math.min(n, zeroChunk));
  if (content) {
    for await (const p of content) {
      while (at < p.offset) {
        const z = zeros(p.offset - at);
        at += z.length;
        yield z;
      }
      const data = p.data.subarray(0, Math.max(0, size - p.offset));
      if (data.length === 0) continue;
      at = p.offset + data.length;
      yield data;
    }
  }
  while (at < size) {
    const z = zeros(size - at);
    at += z.length;
    yield z;
  }
}
