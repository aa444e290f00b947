/**
 * Depth-first walk of a filesystem tree, streamed: each directory is read through its
 * `readdir` iterator while its subdirectories are walked, so memory grows with the depth of the
 * tree and the prefetch window, never with the size of a directory. Metadata of the next few
 * entries is fetched concurrently (`prefetch`), which matters when every getattr is a remote read.
 *
 * {@link walkDirectories} is the same walk a directory at a time (each directory's listing, then
 * its subdirectories), as `ls -R` prints and a browser or a size summary wants it.
 *
 * Every tool that walks a tree goes through one of these two (extract, `ls -R`, the mount's and
 * converters' walks), so corrupt trees end with an error, never a loop: a directory inode met
 * twice (a directory that contains itself, or one listed in two places) is
 * `ERR_OCIFS_CORRUPT_DIRECTORY_CYCLE`, and a name that is not a single path component (`''`,
 * `.`, `..`, containing `/` or NUL) is `ERR_OCIFS_UNSAFE_NAME` (or skipped, if asked). Both
 * checks live in {@link TreeGuard}.
 *
 * @packageDocumentation
 */
import { InvalidOptionError, throwIfAborted } from '../errors.js';
import type { ReadOptions } from '../io/byte-source.js';
import { resolveEntry } from './path.js';
import { DirectoryCycleError, UnsafeNameError } from './tool-errors.js';
import type { DirEntry, FileSystem, Inode } from './types.js';

/** Entries read ahead per directory (their getattr calls run together) by default. */
export const DEFAULT_WALK_PREFETCH = 16;
/** Subdirectories whose first entries are fetched before the walk reaches them, at most. */
const EARLY_DIRS = 8;

/** One step of a walk. */
export interface WalkEntry {
  /** Absolute path inside the image (`/` for the root of the image). */
  path: string;
  /** Path relative to the walk's start (`''` for the start itself). */
  relPath: string;
  /** The entry's name (`''` for the start). */
  name: string;
  inode: Inode;
  /** 0 for the start, 1 for its entries ... */
  depth: number;
  /** True on the second visit of a directory, after all of its contents (only with `exits`). */
  exit?: boolean;
}

/** Options of {@link walk}. */
export interface WalkOptions extends ReadOptions {
  /** Entries read ahead per directory, their inodes fetched together (default {@link DEFAULT_WALK_PREFETCH}). */
  prefetch?: number;
  /** Yield the start itself first (default true). */
  includeStart?: boolean;
  /** Yield each directory a second time, with `exit: true`, after its contents (default false). */
  exits?: boolean;
  /** What to do with a name that is not one safe path component: throw (default) or skip it. */
  unsafeNames?: 'error' | 'skip';
  /** Follow a symlink at the start path (default true, like `find -H`). */
  followStart?: boolean;
}

/** True when `name` can be used as one path component: not empty, `.`, `..`, no `/` or NUL. */
export function isSafeName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}

/**
 * The checks every walk makes: each directory inode is entered once, and only through a safe
 * name. A walker that keeps its own traversal calls these two; it then cannot loop on a
 * hostile image.
 */
export class TreeGuard {
  private readonly seen = new Set<number>();

  constructor(private readonly unsafeNames: 'error' | 'skip' = 'error') {}

  /**
   * Records directory `ino`, reached at `path`; throws `ERR_OCIFS_CORRUPT_DIRECTORY_CYCLE` if it
   * was reached before.
   */
  enterDir(path: string, ino: number): void {
    if (this.seen.has(ino)) throw new DirectoryCycleError(path, ino);
    this.seen.add(ino);
  }

  /** True when directory `ino` was entered already. */
  entered(ino: number): boolean {
    return this.seen.has(ino);
  }

  /**
   * True when `name` (in directory `dirPath`) may be walked; false when it is to be skipped; throws
   * `ERR_OCIFS_UNSAFE_NAME` otherwise.
   */
  acceptName(dirPath: string, name: string): boolean {
    if (isSafeName(name)) return true;
    if (this.unsafeNames === 'skip') return false;
    throw new UnsafeNameError(dirPath, name);
  }
}

interface Slot {
  entry: DirEntry;
  inode: Inode;
}

interface Frame {
  path: string;
  relPath: string;
  name: string;
  inode: Inode;
  depth: number;
  it: AsyncIterator<DirEntry>;
  /** Entries fetched and not yet yielded. */
  ready: Slot[];
  /** The next batch, fetched while the current one is consumed (and its subdirectories walked). */
  next: Promise<Slot[]> | undefined;
  ended: boolean;
}

/**
 * Walks the tree under `start` depth-first, parents before children, each directory's entries
 * in the format's order. Stop early with `break`; the directory iterators are closed.
 */
export async function* walk(fs: FileSystem, start = '/', options: WalkOptions = {}): AsyncGenerator<WalkEntry> {
  const prefetch = options.prefetch ?? DEFAULT_WALK_PREFETCH;
  if (!Number.isInteger(prefetch) || prefetch < 1 || prefetch > 4096)
    throw new InvalidOptionError('prefetch', 'must be an integer from 1 to 4096');
  const signal = options.signal;
  const guard = new TreeGuard(options.unsafeNames);
  const top = await resolveEntry(fs, start, { signal, followFinal: options.followStart ?? true });
  const first: WalkEntry = { path: top.path, relPath: '', name: '', inode: top.inode, depth: 0 };
  if (options.includeStart ?? true) yield first;
  if (top.inode.type !== 'dir') return;

  guard.enterDir(top.path, top.inode.ino);
  const stack: Frame[] = [];
  // Subdirectories whose listing was started before the walk reaches them (so that reading
  // their blocks and inodes overlaps with walking what comes before them): by inode number.
  const early = new Map<number, { it: AsyncIterator<DirEntry>; batch: Promise<Slot[]>; ended: boolean }>();
  // Up to `prefetch` entries are read from the directory, then their inodes fetched at once.
  const fetchBatch = async (f: { it: AsyncIterator<DirEntry>; ended: boolean }): Promise<Slot[]> => {
    const entries: DirEntry[] = [];
    while (entries.length < prefetch) {
      const r = await f.it.next();
      if (r.done) {
        f.ended = true;
        break;
      }
      entries.push(r.value);
    }
    const inodes = await Promise.all(entries.map((e) => fs.getattr(e.ino, { signal, scan: true })));
    const slots = entries.map((entry, i) => ({ entry, inode: inodes[i] }));
    startEarly(slots);
    return slots;
  };
  // The first batch of a few subdirectories just listed is fetched right away.
  const startEarly = (slots: Slot[]) => {
    for (const s of slots) {
      if (early.size >= EARLY_DIRS) return;
      if (s.inode.type !== 'dir' || early.has(s.inode.ino) || guard.entered(s.inode.ino) || !isSafeName(s.entry.name))
        continue;
      const e = {
        it: fs.readdir(s.inode.ino, { signal, scan: true })[Symbol.asyncIterator](),
        batch: undefined as unknown as Promise<Slot[]>,
        ended: false,
      };
      e.batch = fetchBatch(e);
      e.batch.catch(() => {}); // rethrown when the walk gets there
      early.set(s.inode.ino, e);
    }
  };
  const prefetchNext = (f: Frame) => {
    f.next = f.ended ? undefined : fetchBatch(f);
    f.next?.catch(() => {}); // rethrown when awaited
  };
  const open = (e: WalkEntry): Frame => {
    const pre = early.get(e.inode.ino);
    if (pre !== undefined) {
      early.delete(e.inode.ino);
      return { ...e, it: pre.it, ready: [], next: pre.batch, ended: pre.ended };
    }
    const it = fs.readdir(e.inode.ino, { signal, scan: true })[Symbol.asyncIterator]();
    const f: Frame = { ...e, it, ready: [], next: undefined, ended: false };
    prefetchNext(f);
    return f;
  };

  stack.push(open(first));
  try {
    while (stack.length > 0) {
      throwIfAborted(signal);
      const f = stack[stack.length - 1];
      if (f.ready.length === 0 && f.next) {
        f.ready = (await f.next).reverse();
        prefetchNext(f);
      }
      const slot = f.ready.pop();
      if (slot === undefined) {
        stack.pop();
        await f.it.return?.();
        if (options.exits)
          yield { path: f.path, relPath: f.relPath, name: f.name, inode: f.inode, depth: f.depth, exit: true };
        continue;
      }
      const name = slot.entry.name;
      if (!guard.acceptName(f.path, name)) continue;
      const e: WalkEntry = {
        path: f.path === '/' ? `/${name}` : `${f.path}/${name}`,
        relPath: f.relPath === '' ? name : `${f.relPath}/${name}`,
        name,
        inode: slot.inode,
        depth: f.depth + 1,
      };
      if (e.inode.type === 'dir') guard.enterDir(e.path, e.inode.ino);
      yield e;
      if (e.inode.type === 'dir') stack.push(open(e));
    }
  } finally {
    for (const f of stack) await f.it.return?.().catch(() => {});
    for (const e of early.values()) {
      await e.batch.catch(() => {});
      await e.it.return?.().catch(() => {});
    }
  }
}

/** A directory met by {@link walkDirectories}: its entries (in `order`) and what `describe` made of them. */
export interface DirectoryVisit<T> {
  /** Absolute path inside the image. */
  path: string;
  ino: number;
  entries: DirEntry[];
  /** What {@link DirectoryWalkOptions.describe} returned for this directory. */
  data: T;
}

/** Options of {@link walkDirectories}. */
export interface DirectoryWalkOptions<T> extends ReadOptions {
  /** Directories read (and described) ahead of the one the caller is at (default 16). */
  ahead?: number;
  /** Order of each directory's entries and of the walk (default: the format's). */
  order?: (a: DirEntry, b: DirEntry) => number;
  /** Per directory, read ahead with its listing (getattr of the entries, a row to print ...). */
  describe?: (path: string, entries: DirEntry[]) => Promise<T>;
  /** What to do with a name that is not one safe path component: throw (default) or skip it. */
  unsafeNames?: 'error' | 'skip';
}

interface PendingDir<T> {
  path: string;
  ino: number;
  listing?: Promise<{ entries: DirEntry[]; data: T }>;
}

/**
 * Walks the directories under `start` (a directory, already resolved) depth-first, in `order`,
 * as `ls -R` prints them: each directory with all of its entries, then its subdirectories. The
 * next `ahead` directories are listed while the caller handles this one, so a remote image's
 * round trips overlap; only pending siblings and those listings are held. Directory types come
 * from the listings (no getattr unless `describe` asks).
 */
export async function* walkDirectories<T = undefined>(
  fs: FileSystem,
  start: { path: string; ino: number },
  options: DirectoryWalkOptions<T> = {},
): AsyncGenerator<DirectoryVisit<T>> {
  const ahead = options.ahead ?? 16;
  if (!Number.isInteger(ahead) || ahead < 1 || ahead > 4096)
    throw new InvalidOptionError('ahead', 'must be an integer from 1 to 4096');
  const guard = new TreeGuard(options.unsafeNames);
  const readOptions: ReadOptions = { signal: options.signal, ...(options.scan ? { scan: true } : {}) };
  const load = async (d: PendingDir<T>): Promise<{ entries: DirEntry[]; data: T }> => {
    const entries: DirEntry[] = [];
    for await (const e of fs.readdir(d.ino, readOptions)) if (guard.acceptName(d.path, e.name)) entries.push(e);
    if (options.order) entries.sort(options.order);
    return { entries, data: (await options.describe?.(d.path, entries)) as T };
  };
  guard.enterDir(start.path, start.ino);
  const stack: PendingDir<T>[] = [{ path: start.path, ino: start.ino }];
  try {
    while (stack.length) {
      throwIfAborted(options.signal);
      for (let i = stack.length - 1; i >= Math.max(0, stack.length - ahead); i--) {
        const d = stack[i];
        if (d.listing === undefined) {
          d.listing = load(d);
          d.listing.catch(() => {}); // rethrown when its turn comes
        }
      }
      const dir = stack.pop()!;
      const { entries, data } = await dir.listing!;
      yield { path: dir.path, ino: dir.ino, entries, data };
      const subdirs = entries.filter((e) => e.type === 'dir');
      for (let i = subdirs.length - 1; i >= 0; i--) {
        const path = dir.path === '/' ? `/${subdirs[i].name}` : `${dir.path}/${subdirs[i].name}`;
        guard.enterDir(path, subdirs[i].ino);
        stack.push({ path, ino: subdirs[i].ino });
      }
    }
  } finally {
    for (const d of stack) await d.listing?.catch(() => {});
  }
}
