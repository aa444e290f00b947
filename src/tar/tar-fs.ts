/**
 * A read-only {@link FileSystem} over one tar layer: its index plus the uncompressed tar
 * stream as a byte source (a plain tar blob, or a gzip/zstd checkpoint source — this class
 * does not care which).
 *
 * Tar semantics, as `tar x` and `umoci unpack` apply them within one layer:
 * - directories missing from the archive are synthesised: mode 0755, root:root (as umoci's
 *   `MkdirAll`), mtime 0 (umoci uses the time of unpacking; 0 keeps listings reproducible);
 * - a later member of the same path replaces the earlier one; a directory member over an
 *   existing directory only updates its metadata and keeps its children;
 * - a member below a non-directory replaces it with a directory;
 * - a hardlink shares the inode of the member its target names at that point of the archive;
 *   a hardlink to a directory is a corrupt archive. A hardlink whose target is not in the layer
 *   links to a file of a lower layer (docker and containerd apply it against the merged tree):
 *   it is a file of its own here, which {@link TarFileSystem.lowerLink} names for the merge.
 *
 * OCI whiteouts (`.wh.NAME`, `.wh..wh..opq`) are NOT interpreted here: they are ordinary
 * (empty, regular-file) entries with those names, so the layer merge can read them by name.
 *
 * Inode numbers: 1 is the root, member `i` of the index is `i + 2`, synthesised directories
 * come after the members.
 *
 * @packageDocumentation
 */
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { SliceSource } from '../io/slice-source.js';
import { NotARegularFileError, NotFoundError, throwIfAborted } from '../errors.js';
import { IsADirectoryError, NotADirectoryError, NotASymlinkError } from '../vfs/errors.js';
import { TYPE_BITS, type DirEntry, type FileSystem, type FileType, type FsStats, type Inode } from '../vfs/types.js';
import { makeRdev } from '../vfs/device.js';
import { CorruptTarError, ExternalHardlinkError } from './errors.js';
import { SparseSource } from './sparse-source.js';
import type { TarEntry } from './tar-entry.js';
import type { TarIndex } from './tar-index.js';

/** Mode of directories the archive does not contain (as umoci creates them). */
export const IMPLICIT_DIR_MODE = 0o755;

/** Name prefix of OCI whiteout files. */
const WHITEOUT_PREFIX = '.wh.';
/** Reported block size (tar's record unit). */
const TAR_BLOCK = 512;

const ROOT = 1;

/** See the module comment. */
export class TarFileSystem implements FileSystem {
  readonly rootIno = ROOT;
  /** Entry index behind each inode (-1: synthesised directory). */
  private readonly meta: number[] = [];
  /** Children of each directory inode, in archive order. */
  private readonly dirs = new Map<number, Map<string, number>>();
  /** Link count of each non-directory inode. */
  private readonly links = new Map<number, number>();
  /** Hardlinks to a path this layer does not have (a lower layer's file), by inode. */
  private readonly lower = new Map<number, string>();
  private nextImplicit: number;
  private readonly enc = new TextEncoder();

  /**
   * @param index the layer's tar index
   * @param tar the uncompressed tar stream the index describes
   */
  constructor(
    readonly index: TarIndex,
    private readonly tar: ByteSource,
  ) {
    if (tar.size !== index.tarSize) {
      throw new CorruptTarError(`index is for ${index.tarSize} bytes but the tar stream has ${tar.size}`, 0);
    }
    this.nextImplicit = index.entries.length + 2;
    this.meta[ROOT] = -1;
    this.dirs.set(ROOT, new Map());
    this.build();
  }

  private build(): void {
    const entries = this.index.entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (e.path === '') {
        this.meta[ROOT] = i;
        continue;
      }
      const slash = e.path.lastIndexOf('/');
      // umoci repack writes whiteouts for the old children of a directory it replaced with a
      // file ('deep' then 'deep/.wh.d00'); umoci unpack ignores them. A whiteout must not turn
      // a non-directory of this layer back into a directory.
      if (
        slash >= 0 &&
        e.path.slice(slash + 1).startsWith(WHITEOUT_PREFIX) &&
        this.blockedByNonDir(e.path.slice(0, slash))
      )
        continue;
      const parent = this.ensureDir(slash < 0 ? '' : e.path.slice(0, slash));
      const name = e.path.slice(slash + 1);
      const children = this.dirs.get(parent)!;
      const existing = children.get(name);
      if (e.type === 'hardlink') {
        const target = this.resolve(e.linkName!);
        if (target === undefined) {
          // A lower layer's file: an inode of its own, resolved by the merge.
          if (existing !== undefined) this.unlink(existing);
          const ino = i + 2;
          this.meta[ino] = i;
          this.links.set(ino, 1);
          this.lower.set(ino, e.linkName!);
          children.delete(name);
          children.set(name, ino);
          continue;
        }
        if (this.dirs.has(target)) throw new CorruptTarError('hardlink to a directory', e.headerOffset, e.path);
        if (existing === target) continue;
        if (existing !== undefined) this.unlink(existing);
        children.set(name, target);
        this.links.set(target, this.links.get(target)! + 1);
        continue;
      }
      if (e.type === 'dir' && existing !== undefined && this.dirs.has(existing)) {
        this.meta[existing] = i;
        continue;
      }
      if (existing !== undefined) this.unlink(existing);
      const ino = i + 2;
      this.meta[ino] = i;
      if (e.type === 'dir') this.dirs.set(ino, new Map());
      else this.links.set(ino, 1);
      // Re-inserting moves the name to the end, so readdir follows the archive order of the
      // members that are visible.
      children.delete(name);
      children.set(name, ino);
    }
  }

  /** Drops one name of an inode (a directory loses its whole subtree). */
  private unlink(ino: number): void {
    const kids = this.dirs.get(ino);
    if (kids) {
      for (const k of kids.values()) this.unlink(k);
      this.dirs.delete(ino);
      return;
    }
    this.links.set(ino, this.links.get(ino)! - 1);
  }

  private ensureDir(path: string): number {
    let cur = ROOT;
    if (path === '') return cur;
    for (const c of path.split('/')) {
      const kids = this.dirs.get(cur)!;
      let next = kids.get(c);
      if (next === undefined || !this.dirs.has(next)) {
        if (next !== undefined) this.unlink(next);
        next = this.nextImplicit++;
        this.meta[next] = -1;
        this.dirs.set(next, new Map());
        kids.delete(c);
        kids.set(c, next);
      }
      cur = next;
    }
    return cur;
  }

  /** True when a component of `path` is a non-directory entry of this layer. */
  private blockedByNonDir(path: string): boolean {
    let cur = ROOT;
    for (const c of path.split('/')) {
      const next = this.dirs.get(cur)!.get(c);
      if (next === undefined) return false;
      if (!this.dirs.has(next)) return true;
      cur = next;
    }
    return false;
  }

  /**
   * True for a directory this layer only implies (its members are listed, the directory
   * itself is not): a merged view then keeps the metadata of the layer below, as umoci does.
   */
  impliedDir(ino: number): boolean {
    return this.dirs.has(ino) && this.meta[ino] === -1;
  }

  /**
   * The path (in the merged tree, no leading `/`) a hardlink to a lower layer's file names, for
   * inode `ino`; undefined for every other inode.
   */
  lowerLink(ino: number): string | undefined {
    return this.lower.get(ino);
  }

  /** The file type of a non-directory inode (a lower layer's hardlink is a file). */
  private typeOf(e: TarEntry): FileType {
    return e.type === 'hardlink' ? 'file' : e.type;
  }

  /** Inode of a normalised path, without following symlinks. */
  private resolve(path: string): number | undefined {
    let cur = ROOT;
    for (const c of path.split('/')) {
      const kids = this.dirs.get(cur);
      if (!kids) return undefined;
      const next = kids.get(c);
      if (next === undefined) return undefined;
      cur = next;
    }
    return cur;
  }

  private entryOf(ino: number): TarEntry | undefined {
    const m = this.meta[ino];
    return m === undefined || m < 0 ? undefined : this.index.entries[m];
  }

  private exists(ino: number): boolean {
    return Number.isSafeInteger(ino) && ino >= 1 && (this.dirs.has(ino) || (this.links.get(ino) ?? 0) > 0);
  }

  private check(ino: number): void {
    if (!this.exists(ino)) throw new NotFoundError(`inode ${ino}`, { data: { ino } });
  }

  async getattr(ino: number, options: ReadOptions = {}): Promise<Inode> {
    throwIfAborted(options.signal);
    this.check(ino);
    return this.inode(ino);
  }

  private inode(ino: number): Inode {
    const e = this.entryOf(ino);
    const kids = this.dirs.get(ino);
    if (kids) {
      let sub = 0;
      for (const k of kids.values()) if (this.dirs.has(k)) sub++;
      return {
        ino,
        type: 'dir',
        mode: TYPE_BITS.dir | (e ? e.mode : IMPLICIT_DIR_MODE),
        uid: e?.uid ?? 0,
        gid: e?.gid ?? 0,
        size: TAR_BLOCK * 8,
        mtimeSec: e?.mtimeSec ?? 0,
        mtimeNsec: e?.mtimeNsec ?? 0,
        nlink: 2 + sub,
        rdev: 0,
      };
    }
    const x = e!;
    const type = this.typeOf(x);
    return {
      ino,
      type,
      mode: TYPE_BITS[type] | x.mode,
      uid: x.uid,
      gid: x.gid,
      size: type === 'symlink' ? this.enc.encode(x.linkName).length : x.size,
      mtimeSec: x.mtimeSec,
      mtimeNsec: x.mtimeNsec,
      nlink: this.links.get(ino)!,
      rdev: type === 'chardev' || type === 'blockdev' ? makeRdev(x.devMajor ?? 0, x.devMinor ?? 0) : 0,
    };
  }

  async lookup(dirIno: number, name: string, options: ReadOptions = {}): Promise<Inode | undefined> {
    throwIfAborted(options.signal);
    const kids = this.dirOf(dirIno);
    const ino = kids.get(name);
    return ino === undefined ? undefined : this.inode(ino);
  }

  private dirOf(ino: number): Map<string, number> {
    this.check(ino);
    const kids = this.dirs.get(ino);
    if (!kids) throw new NotADirectoryError(`inode ${ino}`, { data: { ino } });
    return kids;
  }

  async *readdir(dirIno: number, options: ReadOptions = {}): AsyncIterable<DirEntry> {
    const kids = this.dirOf(dirIno);
    // A snapshot: the map is never mutated after construction, but iterate a copy anyway so a
    // slow consumer cannot observe anything odd.
    for (const [name, ino] of [...kids]) {
      throwIfAborted(options.signal);
      yield { name, ino, type: this.dirs.has(ino) ? 'dir' : this.typeOf(this.entryOf(ino)!) };
    }
  }

  async readlink(ino: number, options: ReadOptions = {}): Promise<string> {
    throwIfAborted(options.signal);
    this.check(ino);
    const e = this.entryOf(ino);
    if (!e || e.type !== 'symlink' || this.dirs.has(ino)) throw new NotASymlinkError(`inode ${ino}`, { data: { ino } });
    return e.linkName!;
  }

  async openFile(ino: number, options: ReadOptions = {}): Promise<ByteSource> {
    throwIfAborted(options.signal);
    this.check(ino);
    if (this.dirs.has(ino)) throw new IsADirectoryError(`inode ${ino}`, { data: { ino } });
    const e = this.entryOf(ino)!;
    const lower = this.lower.get(ino);
    if (lower !== undefined) throw new ExternalHardlinkError(e.path, lower, { data: { ino } });
    if (e.type !== 'file') {
      throw new NotARegularFileError(e.path, { data: { ino } });
    }
    if (e.sparse) return new SparseSource(this.tar, e.dataOffset, e.size, e.sparse);
    return new SliceSource(this.tar, e.dataOffset, e.size);
  }

  async listxattr(ino: number, options: ReadOptions = {}): Promise<Map<string, Uint8Array>> {
    throwIfAborted(options.signal);
    this.check(ino);
    const e = this.entryOf(ino);
    return new Map(e?.xattrs ?? []);
  }

  statfs(): FsStats {
    return {
      blockSize: TAR_BLOCK,
      blocks: Math.ceil(this.index.tarSize / TAR_BLOCK),
      files: this.dirs.size + this.links.size,
      nameMax: 255,
    };
  }

  /** The index entry behind an inode (undefined for synthesised directories). */
  entry(ino: number): TarEntry | undefined {
    return this.exists(ino) ? this.entryOf(ino) : undefined;
  }
}
