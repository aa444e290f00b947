/**
 * Depth-first walk of a filesystem tree, streamed: each directory is read through its
 * `readdir` iterator while its subdirectories are walked, so memory grows with the depth of the
 * tree and the prefetch window, never with the size of a directory. Metadata of the next few
 * entries is fetched concurrently (`prefetch`), which matters when every getattr is a remote read.
 *
 * Corrupt trees end with an error, never a loop: a directory inode met twice (a directory that
 * contains itself, or one listed in two places) is `ERR_OCIFS_CORRUPT_DIRECTORY_CYCLE`, and a
 * name that is not a single path component (`''`, `.`, `..`, containing `/` or NUL) is
 * `ERR_OCIFS_UNSAFE_NAME` (or skipped, if asked).
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
  if (!Number.isInteger(prefetch) || prefetch < 1 || prefetch > 4096) throw new InvalidOptionError('prefetch', 'must be an integer from 1 to 4096');
  const signal = options.signal;
  const unsafe = options.unsafeNames ?? 'error';
  const top = await resolveEntry(fs, start, { signal, followFinal: options.followStart ?? true });
  const first: WalkEntry = { path: top.path, relPath: '', name: '', inode: top.inode, depth: 0 };
  if (options.includeStart ?? true) yield first;
  if (top.inode.type !== 'dir') return;

  const seenDirs = new Set<number>([top.inode.ino]);
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
      if (s.inode.type !== 'dir' || early.has(s.inode.ino) || seenDirs.has(s.inode.ino) || !isSafeName(s.entry.name)) continue;
      const e = { it: fs.readdir(s.inode.ino, { signal, scan: true })[Symbol.asyncIterator](), batch: undefined as unknown as Promise<Slot[]>, ended: false };
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
        if (options.exits) yield { path: f.path, relPath: f.relPath, name: f.name, inode: f.inode, depth: f.depth, exit: true };
        continue;
      }
      const name = slot.entry.name;
      if (!isSafeName(name)) {
        if (unsafe === 'skip') continue;
        throw new UnsafeNameError(f.path, name);
      }
      const e: WalkEntry = {
        path: f.path === '/' ? `/${name}` : `${f.path}/${name}`,
        relPath: f.relPath === '' ? name : `${f.relPath}/${name}`,
        name,
        inode: slot.inode,
        depth: f.depth + 1,
      };
      if (e.inode.type === 'dir') {
        if (seenDirs.has(e.inode.ino)) throw new DirectoryCycleError(e.path, e.inode.ino);
        seenDirs.add(e.inode.ino);
      }
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
