/**
 * An in-memory {@link FileSystem}: built from a list of entries (the convenient way) or inode by
 * inode with raw links (the way to build hostile trees: names with `/`, `..`, empty names,
 * directories that contain themselves, entries whose type disagrees with their inode, huge
 * generated directories). Used by tests of every tool and usable as a real filesystem.
 *
 * @packageDocumentation
 */
import { InvalidOptionError, NotARegularFileError, NotFoundError, throwIfAborted } from '../errors.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { MemorySource } from '../io/memory-source.js';
import { IsADirectoryError, NotADirectoryError, NotASymlinkError } from './errors.js';
import { TYPE_BITS, type DirEntry, type FileSystem, type FileType, type FsStats, type Inode } from './types.js';

/** Attributes of a new inode. Missing fields take the `DEFAULT_*` values below. */
export interface MemoryInodeInit {
  type: FileType;
  /** Permission bits (`& 0o7777` is kept; the type bits come from `type`). */
  mode?: number;
  uid?: number;
  gid?: number;
  mtimeSec?: number;
  mtimeNsec?: number;
  /** Device number (Linux `st_rdev` encoding) of a chardev/blockdev. */
  rdev?: number;
  /** Content of a regular file: bytes, a string (UTF-8) or any byte source. */
  content?: Uint8Array | string | ByteSource;
  /** Target of a symlink. */
  target?: string;
  /** Extended attributes by full name; string values are UTF-8. */
  xattrs?: Record<string, Uint8Array | string> | Map<string, Uint8Array | string>;
  /** `size` reported for a directory (formats differ; default 0). */
  dirSize?: number;
}

/** One entry of {@link MemoryFs.fromEntries}: a new inode at `path`, or a hardlink (`link`). */
export type MemoryEntry = (MemoryInodeInit & { path: string; link?: undefined }) | { path: string; link: string };

/** Children of a huge directory, produced on demand instead of stored. */
export interface GeneratedChildren {
  /** Number of entries. */
  count: number;
  /** The i-th entry (0 ≤ i < count). */
  entry(i: number): DirEntry;
  /** Finds a name without a scan; when absent, lookup scans `entry(0..count)`. */
  find?(name: string): DirEntry | undefined;
}

/** Default permission bits per type when an entry gives none. */
export const DEFAULT_MEMORY_MODES: Readonly<Record<FileType, number>> = {
  file: 0o644,
  dir: 0o755,
  symlink: 0o777,
  chardev: 0o600,
  blockdev: 0o600,
  fifo: 0o644,
  socket: 0o755,
};

/** The mtime of inodes that give none (2023-11-14, the fixtures' time). */
export const DEFAULT_MEMORY_MTIME = 1700000000;

interface Node {
  inode: Inode;
  content?: ByteSource;
  target?: string;
  xattrs: Map<string, Uint8Array>;
  /** Entries of a directory, in insertion order; `index` finds the first entry with a name. */
  entries?: DirEntry[];
  index?: Map<string, number>;
  generated?: GeneratedChildren;
}

const encoder = new TextEncoder();

/** Counts of calls per method, so tests can see which layers a merged lookup touched. */
export type MemoryFsCalls = Record<'getattr' | 'lookup' | 'readdir' | 'readlink' | 'openFile' | 'listxattr', number>;

/** An in-memory filesystem. Inode 1 is the root directory. */
export class MemoryFs implements FileSystem {
  readonly rootIno = 1;
  /** How often each method was called (reset freely). */
  readonly calls: MemoryFsCalls = { getattr: 0, lookup: 0, readdir: 0, readlink: 0, openFile: 0, listxattr: 0 };
  private readonly nodes = new Map<number, Node>();
  private nextIno = 1;

  /** An empty filesystem whose root has the given attributes. */
  constructor(root: Omit<MemoryInodeInit, 'type'> = {}) {
    this.addInode({ ...root, type: 'dir' });
  }

  /**
   * Builds a filesystem from entries. Paths are `/`-separated, relative to the root (a leading
   * `/` is ignored); missing parent directories are created with default attributes and an
   * entry for an existing directory updates its attributes (so parents may come after children).
   * `path: '/'` sets the root's attributes. A `link` entry is a hardlink to an earlier path.
   */
  static fromEntries(entries: Iterable<MemoryEntry>, root: Omit<MemoryInodeInit, 'type'> = {}): MemoryFs {
    const fs = new MemoryFs(root);
    for (const e of entries) fs.addPath(e);
    return fs;
  }

  /** Adds one entry by path (see {@link MemoryFs.fromEntries}); returns its inode number. */
  addPath(entry: MemoryEntry): number {
    const parts = entry.path.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..'))
      throw new InvalidOptionError('entries', `path ${entry.path} contains ..; use link() for hostile names`);
    if (parts.length === 0) {
      if (entry.link !== undefined || entry.type !== 'dir')
        throw new InvalidOptionError('entries', 'the root must be a directory');
      this.setAttributes(this.rootIno, entry);
      return this.rootIno;
    }
    let dir = this.rootIno;
    for (const name of parts.slice(0, -1)) {
      const found = this.child(dir, name);
      if (found === undefined) {
        const ino = this.addInode({ type: 'dir' });
        this.link(dir, name, ino);
        dir = ino;
      } else if (this.node(found.ino).inode.type === 'dir') {
        dir = found.ino;
      } else {
        throw new InvalidOptionError('entries', `${entry.path}: parent ${name} is not a directory`);
      }
    }
    const name = parts[parts.length - 1];
    const existing = this.child(dir, name);
    if (entry.link !== undefined) {
      if (existing !== undefined) throw new InvalidOptionError('entries', `${entry.path} exists`);
      const target = this.resolveBuilderPath(entry.link);
      if (this.node(target).inode.type === 'dir')
        throw new InvalidOptionError('entries', `${entry.path}: hardlink to a directory`);
      this.link(dir, name, target);
      return target;
    }
    if (existing !== undefined) {
      if (entry.type === 'dir' && this.node(existing.ino).inode.type === 'dir') {
        this.setAttributes(existing.ino, entry);
        return existing.ino;
      }
      throw new InvalidOptionError('entries', `${entry.path} exists`);
    }
    const ino = this.addInode(entry);
    this.link(dir, name, ino);
    return ino;
  }

  /** Creates an inode that no directory lists yet; returns its number. */
  addInode(init: MemoryInodeInit): number {
    const ino = this.nextIno++;
    const inode: Inode = {
      ino,
      type: init.type,
      mode: TYPE_BITS[init.type],
      uid: 0,
      gid: 0,
      size: 0,
      mtimeSec: DEFAULT_MEMORY_MTIME,
      mtimeNsec: 0,
      nlink: init.type === 'dir' ? 2 : 0,
      rdev: 0,
    };
    const node: Node = { inode, xattrs: new Map() };
    if (init.type === 'dir') {
      node.entries = [];
      node.index = new Map();
    }
    this.nodes.set(ino, node);
    this.setAttributes(ino, { ...init, mode: init.mode ?? DEFAULT_MEMORY_MODES[init.type] });
    return ino;
  }

  /**
   * Adds the entry `name` → `ino` to directory `dirIno` without any check of the name (so `/`,
   * `..` and empty names are possible) or of cycles. `type` overrides the entry's type (to build
   * an entry that disagrees with its inode). A duplicate name is listed twice; lookup finds the first.
   */
  link(dirIno: number, name: string, ino: number, type?: FileType): void {
    const dir = this.node(dirIno);
    if (!dir.entries || !dir.index) throw new InvalidOptionError('link', `inode ${dirIno} is not a directory`);
    const target = this.node(ino);
    const entryType = type ?? target.inode.type;
    if (!dir.index.has(name)) dir.index.set(name, dir.entries.length);
    dir.entries.push({ name, ino, type: entryType });
    if (target.inode.type === 'dir') dir.inode.nlink++;
    else target.inode.nlink++;
  }

  /** Makes `dirIno` a huge directory whose entries are generated on demand (replaces its entries). */
  setGeneratedChildren(dirIno: number, children: GeneratedChildren): void {
    const dir = this.node(dirIno);
    if (dir.inode.type !== 'dir')
      throw new InvalidOptionError('setGeneratedChildren', `inode ${dirIno} is not a directory`);
    dir.entries = undefined;
    dir.index = undefined;
    dir.generated = children;
  }

  /** Sets attributes of an existing inode (the type never changes). */
  setAttributes(ino: number, init: Partial<MemoryInodeInit>): void {
    const node = this.node(ino);
    const inode = node.inode;
    if (init.mode !== undefined) inode.mode = TYPE_BITS[inode.type] | (init.mode & 0o7777);
    if (init.uid !== undefined) inode.uid = init.uid;
    if (init.gid !== undefined) inode.gid = init.gid;
    if (init.mtimeSec !== undefined) inode.mtimeSec = init.mtimeSec;
    if (init.mtimeNsec !== undefined) inode.mtimeNsec = init.mtimeNsec;
    if (init.rdev !== undefined) inode.rdev = init.rdev;
    if (init.dirSize !== undefined && inode.type === 'dir') inode.size = init.dirSize;
    if (init.content !== undefined) {
      const c = init.content;
      node.content =
        typeof c === 'string' ? new MemorySource(encoder.encode(c)) : c instanceof Uint8Array ? new MemorySource(c) : c;
      inode.size = node.content.size;
    } else if (inode.type === 'file' && node.content === undefined) {
      node.content = new MemorySource(new Uint8Array(0));
    }
    if (init.target !== undefined) {
      node.target = init.target;
      inode.size = encoder.encode(init.target).byteLength;
    }
    if (init.xattrs !== undefined) {
      const pairs = init.xattrs instanceof Map ? [...init.xattrs] : Object.entries(init.xattrs);
      for (const [k, v] of pairs) node.xattrs.set(k, typeof v === 'string' ? encoder.encode(v) : v);
    }
  }

  /** Inode number at a builder path (no symlinks followed), for tests. */
  inoOf(path: string): number {
    return this.resolveBuilderPath(path);
  }

  async getattr(ino: number, options: ReadOptions = {}): Promise<Inode> {
    this.calls.getattr++;
    throwIfAborted(options.signal);
    return { ...this.node(ino).inode };
  }

  async lookup(dirIno: number, name: string, options: ReadOptions = {}): Promise<Inode | undefined> {
    this.calls.lookup++;
    throwIfAborted(options.signal);
    const dir = this.node(dirIno);
    if (dir.inode.type !== 'dir') throw new NotADirectoryError(`inode ${dirIno}`);
    const e = this.child(dirIno, name);
    return e === undefined ? undefined : { ...this.node(e.ino).inode };
  }

  async *readdir(dirIno: number, options: ReadOptions = {}): AsyncIterable<DirEntry> {
    this.calls.readdir++;
    throwIfAborted(options.signal);
    const dir = this.node(dirIno);
    if (dir.inode.type !== 'dir') throw new NotADirectoryError(`inode ${dirIno}`);
    if (dir.generated) {
      for (let i = 0; i < dir.generated.count; i++) {
        if ((i & 1023) === 0) throwIfAborted(options.signal);
        yield dir.generated.entry(i);
      }
      return;
    }
    // Index-based so entries added while iterating are seen, as a directory being written would.
    for (let i = 0; i < dir.entries!.length; i++) {
      if ((i & 1023) === 0) throwIfAborted(options.signal);
      yield { ...dir.entries![i] };
    }
  }

  async readlink(ino: number, options: ReadOptions = {}): Promise<string> {
    this.calls.readlink++;
    throwIfAborted(options.signal);
    const node = this.node(ino);
    if (node.inode.type !== 'symlink') throw new NotASymlinkError(`inode ${ino}`);
    return node.target ?? '';
  }

  async openFile(ino: number, options: ReadOptions = {}): Promise<ByteSource> {
    this.calls.openFile++;
    throwIfAborted(options.signal);
    const node = this.node(ino);
    if (node.inode.type === 'dir') throw new IsADirectoryError(`inode ${ino}`);
    if (node.inode.type !== 'file') throw new NotARegularFileError(`inode ${ino}`);
    return node.content!;
  }

  async listxattr(ino: number, options: ReadOptions = {}): Promise<Map<string, Uint8Array>> {
    this.calls.listxattr++;
    throwIfAborted(options.signal);
    return new Map(this.node(ino).xattrs);
  }

  statfs(): FsStats {
    let bytes = 0;
    for (const n of this.nodes.values()) bytes += n.inode.type === 'file' ? n.inode.size : 0;
    return { blockSize: 4096, blocks: Math.ceil(bytes / 4096) + this.nodes.size, files: this.nodes.size, nameMax: 255 };
  }

  private node(ino: number): Node {
    const n = this.nodes.get(ino);
    if (n === undefined) throw new NotFoundError(`inode ${ino}`, { data: { ino } });
    return n;
  }

  private child(dirIno: number, name: string): DirEntry | undefined {
    const dir = this.node(dirIno);
    if (dir.generated) {
      const g = dir.generated;
      if (g.find) return g.find(name);
      for (let i = 0; i < g.count; i++) {
        const e = g.entry(i);
        if (e.name === name) return e;
      }
      return undefined;
    }
    const i = dir.index!.get(name);
    return i === undefined ? undefined : dir.entries![i];
  }

  private resolveBuilderPath(path: string): number {
    let ino = this.rootIno;
    for (const name of path.split('/').filter((p) => p !== '' && p !== '.')) {
      const node = this.node(ino);
      const e = node.inode.type === 'dir' ? this.child(ino, name) : undefined;
      if (e === undefined) throw new InvalidOptionError('entries', `${path} does not exist`);
      ino = e.ino;
    }
    return ino;
  }
}
