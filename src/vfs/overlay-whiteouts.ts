/**
 * One layer's tree in the form overlayfs reads as a lower directory: OCI whiteouts become
 * overlayfs whiteouts. An entry `.wh.NAME` is shown as `NAME`, a character device 0/0; a
 * directory holding `.wh..wh..opq` — or a directory `NAME` beside a `.wh.NAME` of the same layer
 * (deleted and made anew) — gets the xattr `trusted.overlay.opaque` = `y`; the `.wh.` entries
 * themselves are never shown. Layers already in overlay form (EROFS images made for overlayfs)
 * pass through unchanged. Container runtimes stack such trees with the kernel's overlayfs: the
 * containerd snapshotter and the podman additional layer store (containers/storage's
 * `diff/` directories) both want exactly this.
 *
 * @packageDocumentation
 */
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from './merge.js';
import type { DirEntry, FileSystem, FsStats, Inode } from './types.js';
import { TYPE_BITS } from './types.js';

/** The xattr overlayfs reads (as root) to know that a lower directory hides those below it. */
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';
const OPAQUE_VALUE = new Uint8Array([0x79]); // 'y'

/** A whiteout as overlayfs makes it: `mknod(NAME, S_IFCHR | 0, makedev(0, 0))`. */
function asWhiteout(inode: Inode): Inode {
  return { ...inode, type: 'chardev', mode: TYPE_BITS.chardev, size: 0, nlink: 1, rdev: 0 };
}

/** A layer filesystem shown with overlayfs whiteouts instead of OCI ones. */
export class OverlayWhiteoutFs implements FileSystem {
  readonly rootIno: number;
  /** Inodes of `.wh.NAME` entries, shown as whiteout devices (learned from lookups and listings). */
  private readonly whiteouts = new Set<number>();
  /** Directories made opaque by a `.wh.NAME` beside them (learned the same way). */
  private readonly replacedDirs = new Set<number>();

  constructor(private readonly fs: FileSystem) {
    this.rootIno = fs.rootIno;
  }

  async getattr(ino: number, options?: ReadOptions): Promise<Inode> {
    const inode = await this.fs.getattr(ino, options);
    return this.whiteouts.has(ino) ? asWhiteout(inode) : inode;
  }

  async lookup(dirIno: number, name: string, options?: ReadOptions): Promise<Inode | undefined> {
    if (name.startsWith(WHITEOUT_PREFIX)) return undefined;
    const found = await this.fs.lookup(dirIno, name, options);
    if (found) {
      if (found.type === 'dir' && (await this.fs.lookup(dirIno, WHITEOUT_PREFIX + name, options))) this.replacedDirs.add(found.ino);
      return this.whiteouts.has(found.ino) ? asWhiteout(found) : found;
    }
    const wh = await this.fs.lookup(dirIno, WHITEOUT_PREFIX + name, options);
    if (!wh) return undefined;
    this.whiteouts.add(wh.ino);
    return asWhiteout(wh);
  }

  async *readdir(dirIno: number, options?: ReadOptions): AsyncIterable<DirEntry> {
    // Whiteouts are listed after the other entries: one whose name is also a real entry of this
    // layer is not a whiteout of that entry (it deleted what the layers below had there).
    const pending: DirEntry[] = [];
    const dirs = new Map<string, number>();
    const names = new Set<string>();
    for await (const e of this.fs.readdir(dirIno, options)) {
      if (e.name === OPAQUE_MARKER) continue;
      if (e.name.startsWith(WHITEOUT_PREFIX)) {
        pending.push(e);
        continue;
      }
      names.add(e.name);
      if (e.type === 'dir') dirs.set(e.name, e.ino);
      yield e;
    }
    for (const w of pending) {
      const name = w.name.slice(WHITEOUT_PREFIX.length);
      if (name === '') continue;
      if (names.has(name)) {
        const replaced = dirs.get(name);
        if (replaced !== undefined) this.replacedDirs.add(replaced);
        continue;
      }
      this.whiteouts.add(w.ino);
      yield { name, ino: w.ino, type: 'chardev' };
    }
  }

  readlink(ino: number, options?: ReadOptions): Promise<string> {
    return this.fs.readlink(ino, options);
  }

  openFile(ino: number, options?: ReadOptions): Promise<ByteSource> {
    return this.fs.openFile(ino, options);
  }

  async listxattr(ino: number, options?: ReadOptions): Promise<Map<string, Uint8Array>> {
    const xattrs = await this.fs.listxattr(ino, options);
    if (this.whiteouts.has(ino) || xattrs.has(OVERLAY_OPAQUE_XATTR)) return xattrs;
    const opaque = this.replacedDirs.has(ino) || ((await this.fs.getattr(ino, options)).type === 'dir' && (await this.fs.lookup(ino, OPAQUE_MARKER, options)) !== undefined);
    if (!opaque) return xattrs;
    return new Map([...xattrs, [OVERLAY_OPAQUE_XATTR, OPAQUE_VALUE]]);
  }

  statfs(): FsStats {
    return this.fs.statfs();
  }

  async inodeDetails(ino: number, options?: ReadOptions): Promise<Record<string, unknown>> {
    return (await this.fs.inodeDetails?.(ino, options)) ?? {};
  }

  async close(): Promise<void> {
    await this.fs.close?.();
  }
}
