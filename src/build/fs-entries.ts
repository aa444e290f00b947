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
import type { FileSystem } from '../vfs/types.js';
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

/** Yields every entry of `fs` (the root first, as path `''`). */
export async function* fsEntries(fs: FileSystem, options: FsEntriesOptions = {}): AsyncGenerator<BuildEntry> {
  const firstPath = new Map<number, string>();
  for await (const w of walk(fs, '/', { signal: options.signal, unsafeNames: 'error' })) {
    const st = w.inode;
    const path = w.relPath;
    const xattrs = st.type === 'symlink' ? new Map<string, Uint8Array>() : await fs.listxattr(st.ino, options);
    const base: BuildEntry = {
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
    if (st.type !== 'dir' && st.nlink > 1) {
      const first = firstPath.get(st.ino);
      if (first !== undefined) {
        yield { ...base, type: 'hardlink', size: 0, linkName: first };
        continue;
      }
      firstPath.set(st.ino, path);
    }
    if (options.ociWhiteouts && st.type === 'chardev' && st.rdev === 0 && path !== '') {
      const i = path.lastIndexOf('/');
      yield { ...base, type: 'file', mode: 0, path: `${path.slice(0, i + 1)}.wh.${path.slice(i + 1)}` };
      continue;
    }
    const opaque = options.ociWhiteouts && st.type === 'dir' && xattrs.get(OPAQUE)?.[0] === 0x79 /* y */;
    if (opaque) xattrs.delete(OPAQUE);
    if (xattrs.size > 0) base.xattrs = xattrs;
    if (st.type === 'symlink') base.linkName = await fs.readlink(st.ino, options);
    if (st.type === 'file' && st.size > 0) base.content = pieces(fs, st.ino, options);
    yield base;
    if (opaque) {
      const marker: BuildEntry = { path: path === '' ? '.wh..wh..opq' : `${path}/.wh..wh..opq`, type: 'file', mode: 0, uid: 0, gid: 0, mtimeSec: st.mtimeSec, mtimeNsec: st.mtimeNsec, size: 0, rdev: 0 };
      yield marker;
    }
  }
}
