/**
 * FUSE operations over a {@link FileSystem}: the file-tree mode.
 *
 * libfuse 2's high-level API names everything by path, so paths are resolved to inodes one
 * component at a time through `fs.lookup`, and resolved paths are kept in the mount's caches
 * (`tree-caches.ts`; the image is immutable, so an entry never goes stale). Concurrent
 * resolutions of one path share one lookup. Reads name their file by path too: the byte source
 * of each file read is kept by inode, so there is no per-open state (and no open/release round
 * trips). Directory listings and symlink targets are cached the same way, because the kernel
 * caches neither over libfuse 2 and `tar`/`find` ask for them again on every walk.
 *
 * @packageDocumentation
 */
import type { ByteSource } from '../io/byte-source.js';
import type { FileSystem, Inode } from '../vfs/types.js';
import { TYPE_BITS } from '../vfs/types.js';
import { Errno, FuseErrno } from './errno.js';
import type { FuseDirEntry, FuseOperations, FuseOpOptions, FuseStat, FuseStatfs } from './fuse-binding.js';
import { MountStats } from './mount-stats.js';
import { TreeCaches, type TreeCacheOptions } from './tree-caches.js';

/** Directories with more entries than this are listed afresh each time (memory bound). */
export const MAX_CACHED_DIR_ENTRIES = 4_096;

/** Options of {@link TreeOps}. */
export interface TreeOpsOptions extends TreeCacheOptions {
  /** Counters to update (a new one when absent). */
  stats?: MountStats;
}

const W_OK = 2;

/** The stat FUSE reports for an inode (`ino` as given: see {@link TreeOps} for the 32-bit mapping). */
export function inodeToStat(inode: Inode, blockSize: number): FuseStat {
  return {
    mode: inode.mode,
    uid: inode.uid,
    gid: inode.gid,
    size: inode.size,
    nlink: inode.nlink,
    ino: inode.ino,
    rdev: inode.rdev,
    mtimeMs: inode.mtimeSec * 1000 + Math.floor(inode.mtimeNsec / 1e6),
    // Whole 512-byte blocks as a local copy would have: fewer would make cp and tar treat the
    // file as sparse and probe for holes.
    blocks: Math.ceil(inode.size / 512),
    blksize: blockSize,
  };
}

/** Read-only FUSE operations over a {@link FileSystem}. */
export class TreeOps implements FuseOperations {
  readonly stats: MountStats;
  /** Resolved paths, listings, symlinks, xattrs and file sources. */
  private readonly caches: TreeCaches<string, FuseDirEntry[]>;
  private readonly resolving = new Map<string, Promise<Inode>>();
  private readonly blockSize: number;
  private readonly nameMax: number;
  /** Inode numbers ≥ 2^32 and the 32-bit numbers given to them (the binding carries 32 bits). */
  private readonly bigInos = new Map<number, number>();

  constructor(
    private readonly fs: FileSystem,
    options: TreeOpsOptions = {},
  ) {
    this.caches = new TreeCaches(fs, options);
    this.stats = options.stats ?? new MountStats();
    const s = fs.statfs();
    this.blockSize = s.blockSize;
    this.nameMax = s.nameMax;
  }

  /** The inode at `path` (absolute, `/` = the root). */
  resolve(path: string, o?: FuseOpOptions): Promise<Inode> {
    const hit = this.caches.entries.get(path);
    if (hit) return Promise.resolve(hit);
    let p = this.resolving.get(path);
    if (!p) {
      p = this.resolveUncached(path, o).finally(() => this.resolving.delete(path));
      this.resolving.set(path, p);
    }
    return p;
  }

  private async resolveUncached(path: string, o?: FuseOpOptions): Promise<Inode> {
    let inode: Inode;
    if (path === '/' || path === '') {
      inode = await this.fs.getattr(this.fs.rootIno, o);
    } else {
      const slash = path.lastIndexOf('/');
      const name = path.slice(slash + 1);
      const parent = await this.resolve(slash <= 0 ? '/' : path.slice(0, slash), o);
      if (parent.type !== 'dir') throw new FuseErrno(Errno.ENOTDIR);
      if (Buffer.byteLength(name) > this.nameMax) throw new FuseErrno(Errno.ENAMETOOLONG);
      const found = await this.fs.lookup(parent.ino, name, o);
      if (!found) throw new FuseErrno(Errno.ENOENT);
      inode = found;
    }
    this.caches.entries.set(path, inode);
    return inode;
  }

  /**
   * The inode number FUSE shows. The binding passes 32 bits; a larger number would be cut and
   * could collide with another file's, which `tar` and `cp -a` would take for a hardlink. So
   * large numbers get their own numbers counted down from 2^32 - 1, stable for the mount's life.
   */
  fuseIno(ino: number): number {
    if (ino < 0x1_0000_0000) return ino;
    let small = this.bigInos.get(ino);
    if (small === undefined) {
      small = 0xffff_ffff - this.bigInos.size;
      this.bigInos.set(ino, small);
    }
    return small;
  }

  async getattr(path: string, o: FuseOpOptions): Promise<FuseStat> {
    const st = inodeToStat(await this.resolve(path, o), this.blockSize);
    st.ino = this.fuseIno(st.ino);
    return st;
  }

  async readdir(path: string, o: FuseOpOptions): Promise<FuseDirEntry[]> {
    const dir = await this.resolve(path, o);
    if (dir.type !== 'dir') throw new FuseErrno(Errno.ENOTDIR);
    const parent = path === '/' ? dir : await this.resolve(path.slice(0, Math.max(1, path.lastIndexOf('/'))), o);
    const cached = this.caches.dirs.get(dir.ino);
    if (cached) return cached;
    const out: FuseDirEntry[] = [
      { name: '.', ino: this.fuseIno(dir.ino), mode: TYPE_BITS.dir },
      { name: '..', ino: this.fuseIno(parent.ino), mode: TYPE_BITS.dir },
    ];
    for await (const e of this.fs.readdir(dir.ino, o)) {
      o.signal.throwIfAborted();
      out.push({ name: e.name, ino: this.fuseIno(e.ino), mode: TYPE_BITS[e.type] });
    }
    // `..` is the same for every path to a directory (hardlinked directories do not exist).
    if (out.length <= MAX_CACHED_DIR_ENTRIES) this.caches.dirs.set(dir.ino, out);
    return out;
  }

  async readlink(path: string, o: FuseOpOptions): Promise<string> {
    const inode = await this.resolve(path, o);
    if (inode.type !== 'symlink') throw new FuseErrno(Errno.EINVAL);
    return this.caches.readlink(inode.ino, o);
  }

  /** The byte source of the regular file at `path` (kept by inode for the next reads). */
  private async sourceOf(path: string, o: FuseOpOptions): Promise<ByteSource> {
    const inode = await this.resolve(path, o);
    if (inode.type === 'dir') throw new FuseErrno(Errno.EISDIR);
    if (inode.type !== 'file') throw new FuseErrno(Errno.EINVAL);
    return this.caches.openFile(inode.ino, o);
  }

  async read(path: string, buf: Buffer, length: number, position: number, o: FuseOpOptions): Promise<number> {
    let bytes: Uint8Array;
    let n: number;
    try {
      const source = await this.sourceOf(path, o);
      if (position >= source.size) return 0;
      n = Math.min(length, buf.length, source.size - position);
      bytes = await source.read(position, n, o);
    } catch (err) {
      this.stats.errors++;
      throw err;
    }
    if (bytes.length !== n) throw new FuseErrno(Errno.EIO, `short read: ${bytes.length} of ${n} bytes`);
    buf.set(bytes);
    this.stats.reads++;
    this.stats.bytesServed += n;
    return n;
  }

  private async xattrsOf(path: string, o: FuseOpOptions): Promise<Map<string, Uint8Array>> {
    const inode = await this.resolve(path, o);
    return this.caches.listxattr(inode.ino, o);
  }

  async getxattr(path: string, name: string, o: FuseOpOptions): Promise<Uint8Array | undefined> {
    return (await this.xattrsOf(path, o)).get(name);
  }

  async listxattr(path: string, o: FuseOpOptions): Promise<string[]> {
    return [...(await this.xattrsOf(path, o)).keys()];
  }

  async statfs(): Promise<FuseStatfs> {
    const s = this.fs.statfs();
    return { bsize: s.blockSize, frsize: s.blockSize, blocks: s.blocks, files: s.files, namemax: s.nameMax };
  }

  async access(path: string, mode: number, o: FuseOpOptions): Promise<void> {
    await this.resolve(path, o);
    if (mode & W_OK) throw new FuseErrno(Errno.EROFS);
  }
}
