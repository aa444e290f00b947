/**
 * The caches a file-tree mount keeps over its {@link FileSystem}, one set for both backends
 * (libfuse's `tree-ops.ts` and the raw server): resolved entries, directory listings, symlink
 * targets, extended attributes and the byte sources of files being read. The image is
 * immutable, so an entry never goes stale; the bounds ({@link TreeCacheOptions}) only cap
 * memory. Concurrent misses of one symlink, xattr list or file share one call to the
 * filesystem, and a failed call is not kept (the next one tries again: a registry may be back).
 *
 * @packageDocumentation
 */
import { InvalidOptionError } from '../errors.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { LRUCache, type NonNullish } from '../io/lru.js';
import type { FileSystem, Inode } from '../vfs/types.js';

/** Default number of resolved entries kept (paths with libfuse, inodes with raw FUSE). */
export const DEFAULT_PATH_CACHE_ENTRIES = 65_536;
/** Default number of inodes whose extended attributes are kept. */
export const DEFAULT_XATTR_CACHE_ENTRIES = 4_096;
/** Default number of open file byte sources kept (one per file recently read). */
export const DEFAULT_SOURCE_CACHE_ENTRIES = 1_024;
/** Default number of directory listings kept. */
export const DEFAULT_DIR_CACHE_ENTRIES = 1_024;
/** Default number of symlink targets kept. */
export const DEFAULT_SYMLINK_CACHE_ENTRIES = 8_192;

/** Sizes of a mount's caches, in entries. */
export interface TreeCacheOptions {
  /** Resolved entries kept: paths (libfuse) or inodes (raw FUSE). Default {@link DEFAULT_PATH_CACHE_ENTRIES}. */
  pathCacheEntries?: number;
  /** Inodes whose xattrs are kept in memory. Default {@link DEFAULT_XATTR_CACHE_ENTRIES}. */
  xattrCacheEntries?: number;
  /** File byte sources kept. Default {@link DEFAULT_SOURCE_CACHE_ENTRIES}. */
  sourceCacheEntries?: number;
  /** Directory listings kept. Default {@link DEFAULT_DIR_CACHE_ENTRIES}. */
  dirCacheEntries?: number;
  /** Symlink targets kept. Default {@link DEFAULT_SYMLINK_CACHE_ENTRIES}. */
  symlinkCacheEntries?: number;
}

function entries(name: keyof TreeCacheOptions, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidOptionError(name, 'must be a positive integer');
  return value;
}

/** An LRU by inode number whose misses call `load` once for all who ask. */
function loader<V extends NonNullish>(
  max: number,
  load: (ino: number, options: ReadOptions) => Promise<V>,
): LRUCache<number, V, ReadOptions> {
  return new LRUCache<number, V, ReadOptions>({
    max,
    ignoreFetchAbort: true,
    fetchMethod: (ino, _stale, { context }) => load(ino, context),
  });
}

/** A loaded value answers at once; a miss (or a load under way) goes through the fetch. */
function through<V extends NonNullish>(
  cache: LRUCache<number, V, ReadOptions>,
  ino: number,
  options: ReadOptions,
): Promise<V> {
  const hit = cache.get(ino);
  return hit !== undefined ? Promise.resolve(hit) : cache.forceFetch(ino, { context: options });
}

/**
 * See the module comment. `EntryKey` is what a backend resolves by (a path, or an inode number);
 * `Listing` is its form of a directory listing.
 */
export class TreeCaches<EntryKey extends NonNullish, Listing extends NonNullish> {
  /** Resolved entries. */
  readonly entries: LRUCache<EntryKey, Inode>;
  /** Directory listings by inode number. */
  readonly dirs: LRUCache<number, Listing>;
  private readonly symlinks: LRUCache<number, string, ReadOptions>;
  private readonly xattrs: LRUCache<number, Map<string, Uint8Array>, ReadOptions>;
  private readonly sources: LRUCache<number, ByteSource, ReadOptions>;

  /** Refuses a size that is not a positive integer, naming its option. */
  constructor(fs: FileSystem, options: TreeCacheOptions = {}) {
    this.entries = new LRUCache({
      max: entries('pathCacheEntries', options.pathCacheEntries, DEFAULT_PATH_CACHE_ENTRIES),
    });
    this.dirs = new LRUCache({ max: entries('dirCacheEntries', options.dirCacheEntries, DEFAULT_DIR_CACHE_ENTRIES) });
    this.symlinks = loader(
      entries('symlinkCacheEntries', options.symlinkCacheEntries, DEFAULT_SYMLINK_CACHE_ENTRIES),
      (ino, o) => fs.readlink(ino, o),
    );
    this.xattrs = loader(
      entries('xattrCacheEntries', options.xattrCacheEntries, DEFAULT_XATTR_CACHE_ENTRIES),
      (ino, o) => fs.listxattr(ino, o),
    );
    this.sources = loader(
      entries('sourceCacheEntries', options.sourceCacheEntries, DEFAULT_SOURCE_CACHE_ENTRIES),
      (ino, o) => fs.openFile(ino, o),
    );
  }

  /** The target of symlink `ino`. */
  readlink(ino: number, options: ReadOptions): Promise<string> {
    return through(this.symlinks, ino, options);
  }

  /** The extended attributes of `ino`. */
  listxattr(ino: number, options: ReadOptions): Promise<Map<string, Uint8Array>> {
    return through(this.xattrs, ino, options);
  }

  /** The byte source of regular file `ino`. */
  openFile(ino: number, options: ReadOptions): Promise<ByteSource> {
    return through(this.sources, ino, options);
  }
}
