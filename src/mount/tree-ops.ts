/**
 * FUSE operations over a {@link FileSystem}: the file-tree mode.
 *
 * libfuse 2's high-level API names everything by path, so paths are resolved to inodes one
 * component at a time through `fs.lookup`, and resolved paths are kept in a bounded LRU (the
 * image is immutable, so an entry never goes stale). Concurrent resolutions of one path share
 * one lookup. Each open file keeps its own byte source until release.
 *
 * @packageDocumentation
 */
import { constants } from 'node:fs';
import type { ByteSource } from '../io/byte-source.js';
import type { FileSystem, Inode } from '../vfs/types.js';
import { TYPE_BITS } from '../vfs/types.js';
import { Errno, FuseErrno } from './errno.js';
import type { FuseDirEntry, FuseOperations, FuseOpOptions, FuseStat, FuseStatfs } from './fuse-binding.js';
import { Lru } from './lru.js';
import { MountStats } from './mount-stats.js';

/** Default number of resolved paths kept. */
export const DEFAULT_PATH_CACHE_ENTRIES = 65_536;
/** Default number of inodes whose extended attributes are kept. */
export const DEFAULT_XATTR_CACHE_ENTRIES = 4_096;

/** Options of {@link TreeOps}. */
export interface TreeOpsOptions {
  /** Resolved paths kept in memory. Default {@link DEFAULT_PATH_CACHE_ENTRIES}. */
  pathCacheEntries?: number;
  /** Inodes whose xattrs are kept in memory. Default {@link DEFAULT_XATTR_CACHE_ENTRIES}. */
  xattrCacheEntries?: number;
  /** Counters to update (a new one when absent). */
  stats?: MountStats;
}

const O_ACCMODE = 3;
const W_OK = 2;

/** The stat FUSE reports for an inode. */
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
  private readonly paths: Lru<string, Inode>;
  private readonly xattrs: Lru<number, Map<string, Uint8Array>>;
  private readonly resolving = new Map<string, Promise<Inode>>();
  private readonly handles = new Map<number, ByteSource>();
  private nextHandle = 1;
  private readonly blockSize: number;
  private readonly nameMax: number;

  constructor(
    private readonly fs: FileSystem,
    options: TreeOpsOptions = {},
  ) {
    this.paths = new Lru(options.pathCacheEntries ?? DEFAULT_PATH_CACHE_ENTRIES);
    this.xattrs = new Lru(options.xattrCacheEntries ?? DEFAULT_XATTR_CACHE_ENTRIES);
    this.stats = options.stats ?? new MountStats();
    const s = fs.statfs();
    this.blockSize = s.blockSize;
    this.nameMax = s.nameMax;
  }

  /** Number of open file handles (for tests: every open is released). */
  get openHandles(): number {
    return this.handles.size;
  }

  /** The inode at `path` (absolute, `/` = the root). */
  resolve(path: string, o?: FuseOpOptions): Promise<Inode> {
    const hit = this.paths.get(path);
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
    this.paths.set(path, inode);
    return inode;
  }

  async getattr(path: string, o: FuseOpOptions): Promise<FuseStat> {
    return inodeToStat(await this.resolve(path, o), this.blockSize);
  }

  async readdir(path: string, o: FuseOpOptions): Promise<FuseDirEntry[]> {
    const dir = await this.resolve(path, o);
    if (dir.type !== 'dir') throw new FuseErrno(Errno.ENOTDIR);
    const parent = path === '/' ? dir : await this.resolve(path.slice(0, Math.max(1, path.lastIndexOf('/'))), o);
    const out: FuseDirEntry[] = [
      { name: '.', ino: dir.ino, mode: TYPE_BITS.dir },
      { name: '..', ino: parent.ino, mode: TYPE_BITS.dir },
    ];
    for await (const e of this.fs.readdir(dir.ino, o)) {
      o.signal.throwIfAborted();
      out.push({ name: e.name, ino: e.ino, mode: TYPE_BITS[e.type] });
    }
    return out;
  }

  async readlink(path: string, o: FuseOpOptions): Promise<string> {
    const inode = await this.resolve(path, o);
    if (inode.type !== 'symlink') throw new FuseErrno(Errno.EINVAL);
    return this.fs.readlink(inode.ino, o);
  }

  async open(path: string, flags: number, o: FuseOpOptions): Promise<number> {
    if ((flags & O_ACCMODE) !== constants.O_RDONLY || flags & constants.O_TRUNC) throw new FuseErrno(Errno.EROFS);
    const inode = await this.resolve(path, o);
    if (inode.type === 'dir') throw new FuseErrno(Errno.EISDIR);
    if (inode.type !== 'file') throw new FuseErrno(Errno.EINVAL);
    const source = await this.fs.openFile(inode.ino, o);
    let fh = this.nextHandle;
    while (this.handles.has(fh)) fh = fh >= 0x7fff_ffff ? 1 : fh + 1;
    this.nextHandle = fh >= 0x7fff_ffff ? 1 : fh + 1;
    this.handles.set(fh, source);
    return fh;
  }

  async read(_path: string, fh: number, buf: Buffer, length: number, position: number, o: FuseOpOptions): Promise<number> {
    const source = this.handles.get(fh);
    if (!source) throw new FuseErrno(Errno.EBADF);
    if (position >= source.size) return 0;
    const n = Math.min(length, buf.length, source.size - position);
    let bytes: Uint8Array;
    try {
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

  async release(_path: string, fh: number): Promise<void> {
    this.handles.delete(fh);
  }

  private async xattrsOf(path: string, o: FuseOpOptions): Promise<Map<string, Uint8Array>> {
    const inode = await this.resolve(path, o);
    let x = this.xattrs.get(inode.ino);
    if (!x) {
      x = await this.fs.listxattr(inode.ino, o);
      this.xattrs.set(inode.ino, x);
    }
    return x;
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
