/**
 * A filesystem opened on first use. A merged view holds one per layer, so a lookup that the
 * top layer answers never reads (or, for a gzip layer, indexes) the layers below it.
 */
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import type { DirEntry, FileSystem, FsStats, Inode } from '../vfs/types.js';

/** Inode number the wrapper gives the root before the real filesystem is open. */
const ROOT = 0;

/**
 * Wraps `open()` so it runs once, when an operation first needs the filesystem. Inode numbers
 * are translated so the root is known up front: the real root is 0, every other real inode
 * `n` is `n + 1` (the wrapper never hands out `realRoot + 1`, so the mapping is one-to-one).
 */
export class LazyFileSystem implements FileSystem {
  readonly rootIno = ROOT;
  private opening: Promise<FileSystem> | undefined;
  private fs: FileSystem | undefined;

  constructor(private readonly open: () => Promise<FileSystem>) {}

  /** The real filesystem, opening it if needed. */
  async get(): Promise<FileSystem> {
    if (this.fs) return this.fs;
    this.opening ??= this.open().then(
      (fs) => (this.fs = fs),
      (err: unknown) => {
        this.opening = undefined;
        throw err;
      },
    );
    return this.opening;
  }

  /** True once the real filesystem has been opened. */
  get isOpen(): boolean {
    return this.fs !== undefined;
  }

  private toReal(fs: FileSystem, ino: number): number {
    return ino === ROOT ? fs.rootIno : ino - 1;
  }

  private fromReal(fs: FileSystem, ino: number): number {
    return ino === fs.rootIno ? ROOT : ino + 1;
  }

  private wrap(fs: FileSystem, inode: Inode): Inode {
    return { ...inode, ino: this.fromReal(fs, inode.ino) };
  }

  async getattr(ino: number, options?: ReadOptions): Promise<Inode> {
    const fs = await this.get();
    return this.wrap(fs, await fs.getattr(this.toReal(fs, ino), options));
  }

  async lookup(dirIno: number, name: string, options?: ReadOptions): Promise<Inode | undefined> {
    const fs = await this.get();
    const found = await fs.lookup(this.toReal(fs, dirIno), name, options);
    return found && this.wrap(fs, found);
  }

  async *readdir(dirIno: number, options?: ReadOptions): AsyncIterable<DirEntry> {
    const fs = await this.get();
    for await (const e of fs.readdir(this.toReal(fs, dirIno), options)) yield { ...e, ino: this.fromReal(fs, e.ino) };
  }

  async readlink(ino: number, options?: ReadOptions): Promise<string> {
    const fs = await this.get();
    return fs.readlink(this.toReal(fs, ino), options);
  }

  async openFile(ino: number, options?: ReadOptions): Promise<ByteSource> {
    const fs = await this.get();
    return fs.openFile(this.toReal(fs, ino), options);
  }

  async listxattr(ino: number, options?: ReadOptions): Promise<Map<string, Uint8Array>> {
    const fs = await this.get();
    return fs.listxattr(this.toReal(fs, ino), options);
  }

  async inodeDetails(ino: number, options?: ReadOptions): Promise<Record<string, unknown>> {
    const fs = await this.get();
    return (await fs.inodeDetails?.(this.toReal(fs, ino), options)) ?? {};
  }

  /**
   * True for a directory the layer only implies (a tar listing `a/b` but not `a/`), so a merged
   * view takes its metadata from the layer below. Only asked of open layers.
   */
  impliedDir(ino: number): boolean {
    const fs: (FileSystem & { impliedDir?(ino: number): boolean }) | undefined = this.fs;
    return fs?.impliedDir ? fs.impliedDir(this.toReal(fs, ino)) : false;
  }

  /**
   * The merged-tree path a hardlink to a lower layer's file names (see `TarFileSystem.lowerLink`).
   * Only asked of open layers.
   */
  lowerLink(ino: number): string | undefined {
    const fs: (FileSystem & { lowerLink?(ino: number): string | undefined }) | undefined = this.fs;
    return fs?.lowerLink ? fs.lowerLink(this.toReal(fs, ino)) : undefined;
  }

  statfs(): FsStats {
    if (!this.fs) return { blockSize: 4096, blocks: 0, files: 0, nameMax: 255 };
    return this.fs.statfs();
  }

  async close(): Promise<void> {
    if (!this.opening) return;
    const fs = await this.opening.catch(() => undefined);
    await fs?.close?.();
  }
}
