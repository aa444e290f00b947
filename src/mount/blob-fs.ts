/**
 * A {@link FileSystem} holding one read-only file: the kernel mode's backing file. Mounted
 * like any file tree (either FUSE backend), it shows the blob as `/<name>`; the kernel's EROFS
 * driver reads it like an image file on disk, and every read becomes a range read of the
 * source (the blob cache).
 *
 * @packageDocumentation
 */
import { NotFoundError } from '../errors.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { NotADirectoryError, NotASymlinkError, IsADirectoryError } from '../vfs/errors.js';
import type { DirEntry, FileSystem, FsStats, Inode } from '../vfs/types.js';

const ROOT_INO = 1;
const FILE_INO = 2;

/** One file, `name`, with the bytes of `source`, owned by the current user, mode 0400. */
export class BlobFileSystem implements FileSystem {
  readonly rootIno = ROOT_INO;
  private readonly uid = process.getuid?.() ?? 0;
  private readonly gid = process.getgid?.() ?? 0;
  private readonly mtimeSec = Math.floor(Date.now() / 1000);

  constructor(
    private readonly source: ByteSource,
    readonly name: string,
  ) {
    if (!name || name.includes('/') || name === '.' || name === '..') throw new TypeError(`bad file name ${JSON.stringify(name)}`);
  }

  async getattr(ino: number): Promise<Inode> {
    const base = { uid: this.uid, gid: this.gid, mtimeSec: this.mtimeSec, mtimeNsec: 0, rdev: 0 };
    if (ino === ROOT_INO) return { ...base, ino, type: 'dir', mode: 0o040500, size: 0, nlink: 2 };
    if (ino === FILE_INO) return { ...base, ino, type: 'file', mode: 0o100400, size: this.source.size, nlink: 1 };
    throw new NotFoundError(`inode ${ino}`);
  }

  async lookup(dirIno: number, name: string): Promise<Inode | undefined> {
    if (dirIno !== ROOT_INO) throw new NotADirectoryError(`inode ${dirIno}`);
    return name === this.name ? this.getattr(FILE_INO) : undefined;
  }

  async *readdir(dirIno: number): AsyncIterable<DirEntry> {
    if (dirIno !== ROOT_INO) throw new NotADirectoryError(`inode ${dirIno}`);
    yield { name: this.name, ino: FILE_INO, type: 'file' };
  }

  async readlink(ino: number): Promise<string> {
    throw new NotASymlinkError(`inode ${ino}`);
  }

  async openFile(ino: number, _options?: ReadOptions): Promise<ByteSource> {
    if (ino === ROOT_INO) throw new IsADirectoryError('/');
    if (ino !== FILE_INO) throw new NotFoundError(`inode ${ino}`);
    return this.source;
  }

  async listxattr(): Promise<Map<string, Uint8Array>> {
    return new Map();
  }

  statfs(): FsStats {
    return { blockSize: 4096, blocks: Math.ceil(this.source.size / 4096), files: 2, nameMax: 255 };
  }
}
