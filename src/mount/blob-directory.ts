/**
 * A {@link FileSystem} of one directory whose read-only files are byte sources added and
 * removed while it is mounted: one FUSE mount serving the backing files of many kernel EROFS
 * mounts, instead of one FUSE mount (a mount(8) run and a reader thread) per layer.
 *
 * Names and inode numbers are never reused (a removed file's name and number stay gone): the
 * kernel caches names and attributes for the mount's cache timeout, and a cached entry must
 * never point at a different file.
 *
 * @packageDocumentation
 */
import { InvalidOptionError, NotFoundError } from '../errors.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { IsADirectoryError, NotADirectoryError, NotASymlinkError } from '../vfs/errors.js';
import type { DirEntry, FileSystem, FsStats, Inode } from '../vfs/types.js';

const ROOT_INO = 1;

/** A directory of read-only files (see the module comment), owned by the current user. */
export class BlobDirectory implements FileSystem {
  readonly rootIno = ROOT_INO;
  private readonly byName = new Map<string, number>();
  private readonly files = new Map<number, { name: string; source: ByteSource }>();
  private readonly used = new Set<string>();
  private nextIno = ROOT_INO + 1;
  private readonly uid = process.getuid?.() ?? 0;
  private readonly gid = process.getgid?.() ?? 0;
  private readonly mtimeSec = Math.floor(Date.now() / 1000);

  /** Adds `source` as the file `name` (a name never used before in this directory). */
  add(name: string, source: ByteSource): void {
    if (!name || name.includes('/') || name === '.' || name === '..')
      throw new InvalidOptionError('name', `bad file name ${JSON.stringify(name)}`);
    if (this.used.has(name)) throw new InvalidOptionError('name', `${JSON.stringify(name)} was used before`);
    this.used.add(name);
    const ino = this.nextIno++;
    this.byName.set(name, ino);
    this.files.set(ino, { name, source });
  }

  /** Removes a file; readers that have it open keep reading it. */
  remove(name: string): void {
    const ino = this.byName.get(name);
    if (ino === undefined) return;
    this.byName.delete(name);
    this.files.delete(ino);
  }

  /** Number of files. */
  get size(): number {
    return this.files.size;
  }

  private base() {
    return { uid: this.uid, gid: this.gid, mtimeSec: this.mtimeSec, mtimeNsec: 0, rdev: 0 };
  }

  async getattr(ino: number): Promise<Inode> {
    if (ino === ROOT_INO) return { ...this.base(), ino, type: 'dir', mode: 0o040500, size: 0, nlink: 2 };
    const f = this.files.get(ino);
    if (!f) throw new NotFoundError(`inode ${ino}`);
    return { ...this.base(), ino, type: 'file', mode: 0o100400, size: f.source.size, nlink: 1 };
  }

  async lookup(dirIno: number, name: string): Promise<Inode | undefined> {
    if (dirIno !== ROOT_INO) throw new NotADirectoryError(`inode ${dirIno}`);
    const ino = this.byName.get(name);
    return ino === undefined ? undefined : this.getattr(ino);
  }

  async *readdir(dirIno: number): AsyncIterable<DirEntry> {
    if (dirIno !== ROOT_INO) throw new NotADirectoryError(`inode ${dirIno}`);
    for (const [name, ino] of this.byName) yield { name, ino, type: 'file' };
  }

  async readlink(ino: number): Promise<string> {
    throw new NotASymlinkError(`inode ${ino}`);
  }

  async openFile(ino: number, _options?: ReadOptions): Promise<ByteSource> {
    if (ino === ROOT_INO) throw new IsADirectoryError('/');
    const f = this.files.get(ino);
    if (!f) throw new NotFoundError(`inode ${ino}`);
    return f.source;
  }

  async listxattr(): Promise<Map<string, Uint8Array>> {
    return new Map();
  }

  statfs(): FsStats {
    let blocks = 0;
    for (const f of this.files.values()) blocks += Math.ceil(f.source.size / 4096);
    return { blockSize: 4096, blocks, files: this.files.size + 1, nameMax: 255 };
  }
}
