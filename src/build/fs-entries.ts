/**
 * The entries of any {@link FileSystem} (an EROFS layer, a tar layer opened through its index,
 * the merged view of an image), from a depth-first walk: parents before children, hardlinks as
 * `hardlink` entries to the first path of their inode, file content read in pieces as the
 * writer asks for it.
 *
 * @packageDocumentation
 */
import type { ReadOptions } from '../io/byte-source.js';
import { readPieces } from '../io/read-stream.js';
import type { FileSystem, Inode } from '../vfs/types.js';
import { walk } from '../vfs/walk.js';
import type { BuildEntry, ContentPiece } from './entry.js';

/** Options of {@link fsEntries}. */
export interface FsEntriesOptions extends ReadOptions {
  /**
   * Write whiteouts the OCI way (a tar layer's convention): an overlayfs whiteout (character
   * device 0/0) becomes an empty file `.wh.NAME`, and a directory with
   * `trusted.overlay.opaque=y` gets a `.wh..wh..opq` member (the xattr is dropped).
   */
  ociWhiteouts?: boolean;
}

const OPAQUE = 'trusted.overlay.opaque';

async function* pieces(fs: FileSystem, ino: number, options: ReadOptions): AsyncGenerator<ContentPiece> {
  const src = await fs.openFile(ino, options);
  let offset = 0;
  for await (const data of readPieces(src, { signal: options.signal, pieceSize: 1 << 20 })) {
    yield { offset, data };
    offset += data.length;
  }
}

async function lookupPath(fs: FileSystem, path: string, options: ReadOptions): Promise<Inode | undefined> {
  let cur = await fs.getattr(fs.rootIno, options);
  if (path === '') return cur;
  for (const name of path.split('/')) {
    if (cur.type !== 'dir') return undefined;
    const next = await fs.lookup(cur.ino, name, options);
    if (!next) return undefined;
    cur = next;
  }
  return cur;
}

/** The entry of one inode, its content read lazily. */
function entryOf(
  fs: FileSystem,
  path: string,
  st: Inode,
  xattrs: Map<string, Uint8Array>,
  options: ReadOptions,
): BuildEntry {
  const e: BuildEntry = {
    path,
    type: st.type,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtimeSec: st.mtimeSec,
    mtimeNsec: st.mtimeNsec,
    size: st.type === 'file' ? st.size : 0,
    rdev: st.type === 'chardev' || st.type === 'blockdev' ? st.rdev : 0,
  };
  if (xattrs.size > 0) e.xattrs = xattrs;
  if (st.type === 'file' && st.size > 0) e.content = pieces(fs, st.ino, options);
  return e;
}

/**
 * The entry at `path` of `fs` (no symlink followed; a hardlinked file as a regular file), or
 * undefined when there is none.
 */
export async function fsEntryAt(
  fs: FileSystem,
  path: string,
  options: ReadOptions = {},
): Promise<BuildEntry | undefined> {
  const st = await lookupPath(fs, path, options);
  if (!st) return undefined;
  const e = entryOf(
    fs,
    path,
    st,
    st.type === 'symlink' ? new Map<string, Uint8Array>() : await fs.listxattr(st.ino, options),
    options,
  );
  if (st.type === 'symlink') e.linkName = await fs.readlink(st.ino, options);
  return e;
}

/** Yields every entry of `fs` (the root first, as path `''`). */
export async function* fsEntries(fs: FileSystem, options: FsEntriesOptions = {}): AsyncGenerator<BuildEntry> {
  const firstPath = new Map<number, string>();
  for await (const w of walk(fs, '/', { signal: options.signal, unsafeNames: 'error' })) {
    const st = w.inode;
    const path = w.relPath;
    const xattrs = st.type === 'symlink' ? new Map<string, Uint8Array>() : await fs.listxattr(st.ino, options);
    if (st.type !== 'dir' && st.nlink > 1) {
      const first = firstPath.get(st.ino);
      if (first !== undefined) {
        const link: BuildEntry = {
          ...entryOf(fs, path, st, xattrs, options),
          type: 'hardlink',
          size: 0,
          linkName: first,
          resolve: async () => entryOf(fs, path, st, xattrs, options),
        };
        delete link.content;
        yield link;
        continue;
      }
      firstPath.set(st.ino, path);
    }
    if (options.ociWhiteouts && st.type === 'chardev' && st.rdev === 0 && path !== '') {
      const i = path.lastIndexOf('/');
      yield {
        ...entryOf(fs, path, st, new Map(), options),
        type: 'file',
        mode: 0,
        rdev: 0,
        path: `${path.slice(0, i + 1)}.wh.${path.slice(i + 1)}`,
      };
      continue;
    }
    const opaque = options.ociWhiteouts && st.type === 'dir' && xattrs.get(OPAQUE)?.[0] === 0x79; /* y */
    if (opaque) xattrs.delete(OPAQUE);
    const base = entryOf(fs, path, st, xattrs, options);
    if (st.type === 'symlink') base.linkName = await fs.readlink(st.ino, options);
    yield base;
    if (opaque) {
      const marker: BuildEntry = {
        path: path === '' ? '.wh..wh..opq' : `${path}/.wh..wh..opq`,
        type: 'file',
        mode: 0,
        uid: 0,
        gid: 0,
        mtimeSec: st.mtimeSec,
        mtimeNsec: st.mtimeNsec,
        size: 0,
        rdev: 0,
      };
      yield marker;
    }
  }
}
