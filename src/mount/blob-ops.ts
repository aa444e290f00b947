/**
 * FUSE operations that expose one byte source as one read-only file in an otherwise empty
 * directory: the kernel mode's backing file. The kernel's EROFS driver reads it like an image
 * file on disk; every read becomes a range read of the source (the blob cache).
 *
 * @packageDocumentation
 */
import type { ByteSource } from '../io/byte-source.js';
import { Errno, FuseErrno } from './errno.js';
import type { FuseDirEntry, FuseOperations, FuseOpOptions, FuseStat, FuseStatfs } from './fuse-binding.js';
import { MountStats } from './mount-stats.js';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const ROOT_INO = 1;
const FILE_INO = 2;

/** Read-only FUSE operations serving `source` as the file `/<name>`. */
export class BlobOps implements FuseOperations {
  readonly stats: MountStats;
  private readonly path: string;
  private readonly uid = process.getuid?.() ?? 0;
  private readonly gid = process.getgid?.() ?? 0;
  private readonly mtimeMs = Date.now();

  constructor(
    private readonly source: ByteSource,
    readonly name: string,
    stats?: MountStats,
  ) {
    if (!name || name.includes('/') || name === '.' || name === '..') throw new TypeError(`bad file name ${JSON.stringify(name)}`);
    this.path = '/' + name;
    this.stats = stats ?? new MountStats();
  }

  async getattr(path: string): Promise<FuseStat> {
    const base = { uid: this.uid, gid: this.gid, rdev: 0, mtimeMs: this.mtimeMs, blksize: 4096 };
    if (path === '/') return { ...base, mode: S_IFDIR | 0o500, size: 0, nlink: 2, ino: ROOT_INO, blocks: 0 };
    if (path === this.path) {
      const size = this.source.size;
      return { ...base, mode: S_IFREG | 0o400, size, nlink: 1, ino: FILE_INO, blocks: Math.ceil(size / 512) };
    }
    throw new FuseErrno(Errno.ENOENT);
  }

  async readdir(path: string): Promise<FuseDirEntry[]> {
    if (path !== '/') throw new FuseErrno(path === this.path ? Errno.ENOTDIR : Errno.ENOENT);
    return [
      { name: '.', ino: ROOT_INO, mode: S_IFDIR },
      { name: '..', ino: ROOT_INO, mode: S_IFDIR },
      { name: this.name, ino: FILE_INO, mode: S_IFREG },
    ];
  }

  async readlink(): Promise<string> {
    throw new FuseErrno(Errno.EINVAL);
  }

  async read(path: string, buf: Buffer, length: number, position: number, o: FuseOpOptions): Promise<number> {
    if (path !== this.path) throw new FuseErrno(Errno.EBADF);
    if (position >= this.source.size) return 0;
    const n = Math.min(length, buf.length, this.source.size - position);
    let bytes: Uint8Array;
    try {
      bytes = await this.source.read(position, n, o);
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

  async getxattr(path: string): Promise<Uint8Array | undefined> {
    await this.getattr(path);
    return undefined;
  }

  async listxattr(path: string): Promise<string[]> {
    await this.getattr(path);
    return [];
  }

  async statfs(): Promise<FuseStatfs> {
    return { bsize: 4096, frsize: 4096, blocks: Math.ceil(this.source.size / 4096), files: 1, namemax: 255 };
  }

  async access(path: string, mode: number): Promise<void> {
    await this.getattr(path);
    if (mode & 2) throw new FuseErrno(Errno.EROFS);
  }
}
