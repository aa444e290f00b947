/**
 * One layer's tree as overlayfs expects a lower layer: what container runtimes mount when they
 * stack layers with the kernel's overlayfs instead of merging them (containerd's snapshotters,
 * containers/storage's overlay driver and its additional layer stores).
 *
 * OCI layers record deletions as entries (image-spec `layer.md`); overlayfs records them as
 * inodes (`Documentation/filesystems/overlayfs.rst`, "whiteouts and opaque directories"):
 * - `.wh.NAME` (a file that hides NAME below) → NAME as a character device 0/0, which overlayfs
 *   takes for a whiteout (`ovl_is_whiteout`: `S_ISCHR` and `rdev == WHITEOUT_DEV`, 0);
 * - `.wh..wh..opq` (a directory that hides everything below it) → the directory gets the xattr
 *   `trusted.overlay.opaque` = `y`, and the marker is not shown;
 * - `.wh.NAME` beside a directory NAME of the same layer (the directory was deleted and made
 *   anew, as umoci writes it) → that directory is opaque too;
 * - other `.wh..wh.*` names (aufs's own metadata: `.wh..wh.plnk`, `.wh..wh.aufs`) are not shown.
 *
 * Entries that already use overlayfs's convention (a 0/0 character device, the opaque xattr)
 * pass through unchanged, so a layer may mix both. Inode numbers are the layer's own: a
 * whiteout device keeps the number of its `.wh.` entry.
 *
 * @packageDocumentation
 */
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { TarFileSystem } from '../tar/tar-fs.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from './merge.js';
import { TYPE_BITS, type DirEntry, type FileSystem, type FsStats, type Inode } from './types.js';

/** The xattr that marks an opaque directory for overlayfs (value `y`), as this view sets it. */
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';
/** Prefix of aufs's own metadata entries (`.wh..wh.opq`, `.wh..wh.plnk`, `.wh..wh.aufs`). */
const AUFS_META_PREFIX = '.wh..wh.';
const OPAQUE_VALUE = new Uint8Array([0x79]); // 'y'

/**
 * A read-only view of one layer's {@link FileSystem} with its OCI whiteouts shown as overlayfs
 * whiteouts (see the module comment). Mount it (FUSE) and give the mountpoint to overlayfs as
 * a `lowerdir`; the underlying filesystem is not closed by {@link close}.
 */
export class OverlayLayerFileSystem implements FileSystem {
  readonly rootIno: number;
  /** Inodes handed out as whiteout devices (their `.wh.` entry's number). */
  private readonly whiteouts = new Set<number>();
  /** Directories found opaque (or not), by inode. */
  private readonly opaque = new Map<number, boolean>();

  constructor(private readonly base: FileSystem) {
    this.rootIno = base.rootIno;
  }

  /** The layer filesystem this view shows. */
  get layer(): FileSystem {
    return this.base;
  }

  /**
   * True when the view is known to show no extended attribute at all: a tar layer (its whole
   * index is in memory) with no xattrs, no opaque marker and no directory made anew beside its
   * own whiteout. A mount of such a view can tell the kernel to stop asking for xattrs, which
   * overlayfs otherwise does for every directory it looks through. False when unknown.
   */
  xattrFree(): boolean {
    if (!(this.base instanceof TarFileSystem)) return false;
    const paths = new Set<string>();
    for (const e of this.base.index.entries) {
      if (e.xattrs && e.xattrs.size > 0) return false;
      paths.add(e.path.replace(/\/+$/, ''));
    }
    for (const p of paths) {
      const slash = p.lastIndexOf('/');
      const name = p.slice(slash + 1);
      if (name === OPAQUE_MARKER) return false;
      if (name.startsWith(WHITEOUT_PREFIX) && paths.has(p.slice(0, slash + 1) + name.slice(WHITEOUT_PREFIX.length)))
        return false;
    }
    return true;
  }

  private whiteout(inode: Inode): Inode {
    this.whiteouts.add(inode.ino);
    return { ...inode, type: 'chardev', mode: TYPE_BITS.chardev, size: 0, nlink: 1, rdev: 0 };
  }

  async getattr(ino: number, options?: ReadOptions): Promise<Inode> {
    const inode = await this.base.getattr(ino, options);
    return this.whiteouts.has(ino) ? this.whiteout(inode) : inode;
  }

  async lookup(dirIno: number, name: string, options?: ReadOptions): Promise<Inode | undefined> {
    // Every `.wh.` name is a whiteout by the spec, never a file of its own.
    if (name.startsWith(WHITEOUT_PREFIX)) return undefined;
    const found = await this.base.lookup(dirIno, name, options);
    const marker = await this.base.lookup(dirIno, WHITEOUT_PREFIX + name, options);
    if (found) {
      if (found.type === 'dir' && marker) this.opaque.set(found.ino, true);
      return found;
    }
    return marker ? this.whiteout(marker) : undefined;
  }

  async *readdir(dirIno: number, options?: ReadOptions): AsyncIterable<DirEntry> {
    for await (const e of this.base.readdir(dirIno, options)) {
      if (!e.name.startsWith(WHITEOUT_PREFIX)) {
        yield e;
        continue;
      }
      if (e.name.startsWith(AUFS_META_PREFIX)) continue;
      const name = e.name.slice(WHITEOUT_PREFIX.length);
      if (!name) continue;
      // NAME listed by the layer as well: that entry is shown (and, a directory, is opaque).
      const real = await this.base.lookup(dirIno, name, options);
      if (real) {
        if (real.type === 'dir') this.opaque.set(real.ino, true);
        continue;
      }
      this.whiteouts.add(e.ino);
      yield { name, ino: e.ino, type: 'chardev' };
    }
  }

  readlink(ino: number, options?: ReadOptions): Promise<string> {
    return this.base.readlink(ino, options);
  }

  openFile(ino: number, options?: ReadOptions): Promise<ByteSource> {
    return this.base.openFile(ino, options);
  }

  async listxattr(ino: number, options?: ReadOptions): Promise<Map<string, Uint8Array>> {
    const xs = await this.base.listxattr(ino, options);
    if (this.whiteouts.has(ino)) return new Map();
    // A copy: the base may hand out the map it keeps for this inode.
    if (await this.isOpaque(ino, options)) return new Map(xs).set(OVERLAY_OPAQUE_XATTR, OPAQUE_VALUE);
    return xs;
  }

  private async isOpaque(ino: number, options?: ReadOptions): Promise<boolean> {
    let o = this.opaque.get(ino);
    if (o === undefined) {
      const inode = await this.base.getattr(ino, options);
      o = inode.type === 'dir' && (await this.base.lookup(ino, OPAQUE_MARKER, options)) !== undefined;
      this.opaque.set(ino, o);
    }
    return o;
  }

  inodeDetails(ino: number, options?: ReadOptions): Promise<Record<string, unknown>> {
    return this.base.inodeDetails ? this.base.inodeDetails(ino, options) : Promise.resolve({});
  }

  statfs(): FsStats {
    return this.base.statfs();
  }

  async close(): Promise<void> {
    this.whiteouts.clear();
    this.opaque.clear();
  }
}

/** One layer's tree with overlayfs-style whiteouts; see {@link OverlayLayerFileSystem}. */
export function overlayLayerView(fs: FileSystem): OverlayLayerFileSystem {
  return new OverlayLayerFileSystem(fs);
}
