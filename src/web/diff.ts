/**
 * The differences between two images' merged trees: paths added, removed and changed (with
 * what changed and the sizes on each side), found lazily, one directory pair at a time:
 *
 * - a directory both images build from the same layer directories (same layer digests, same
 *   inodes) holds the same tree and is never descended;
 * - a directory whose metadata is identical on both sides (mode, owner, mtime to the
 *   nanosecond, link count, size) is not descended either unless `deep` is asked — the
 *   quick check of rsync: adding, removing or renaming an entry changes a directory's mtime;
 * - a file both images take from the same layer inode is equal without a look at it; other
 *   files are compared by type, size, mode, owner, mtime, link target and device number.
 *
 * @packageDocumentation
 */
import { throwIfAborted } from '../errors.js';
import type { ReadOptions } from '../io/byte-source.js';
import type { MergedFileSystem } from '../vfs/merge.js';
import { joinPath, resolveEntry } from '../vfs/path.js';
import type { Inode } from '../vfs/types.js';
import { TreeGuard, walk } from '../vfs/walk.js';
import type { DiffEntry, DiffLine } from './api-types.js';
import type { ImageViews } from './image-views.js';
import { PROGRESS_EVERY_MS } from './api-find.js';

/** Differences reported at most. */
export const MAX_DIFF_ENTRIES = 20_000;

/** One side of the diff. */
interface Side {
  views: ImageViews;
  fs: MergedFileSystem;
}

/** The attributes in which two inodes of the same type differ. */
async function differences(a: Side, ia: Inode, b: Side, ib: Inode, options: ReadOptions): Promise<string[]> {
  const what: string[] = [];
  if (ia.type !== 'dir' && ia.size !== ib.size) what.push('size');
  if ((ia.mode & 0o7777) !== (ib.mode & 0o7777)) what.push('mode');
  if (ia.uid !== ib.uid || ia.gid !== ib.gid) what.push('owner');
  if (ia.type !== 'dir' && (ia.mtimeSec !== ib.mtimeSec || ia.mtimeNsec !== ib.mtimeNsec)) what.push('mtime');
  if (ia.type === 'symlink' && (await a.fs.readlink(ia.ino, options)) !== (await b.fs.readlink(ib.ino, options)))
    what.push('target');
  if ((ia.type === 'chardev' || ia.type === 'blockdev') && ia.rdev !== ib.rdev) what.push('rdev');
  return what;
}

/** True when both files come from the same inode of the same layer blob. */
function sameFile(a: Side, ia: Inode, b: Side, ib: Inode): boolean {
  const x = a.views.originDigest(a.fs, ia.ino);
  const y = b.views.originDigest(b.fs, ib.ino);
  return x.digest !== '' && x.digest === y.digest && x.ino === y.ino;
}

/** True when both directories are made of the same layer directories. */
async function sameDir(a: Side, ia: Inode, b: Side, ib: Inode, options: ReadOptions): Promise<boolean> {
  const key = async (s: Side, ino: number) =>
    (await s.fs.dirLayers(ino, options)).map((l) => `${s.views.image.layers[l.layer].digest}:${l.ino}`);
  const [x, y] = await Promise.all([key(a, ia.ino), key(b, ib.ino)]);
  return x.length === y.length && x.every((k, i) => k !== '' && !k.startsWith(':') && k === y[i]);
}

/** Identical directory metadata: the quick check that lets a directory pair go undescended. */
function sameDirMeta(ia: Inode, ib: Inode): boolean {
  return (
    ia.mode === ib.mode &&
    ia.uid === ib.uid &&
    ia.gid === ib.gid &&
    ia.mtimeSec === ib.mtimeSec &&
    ia.mtimeNsec === ib.mtimeNsec &&
    ia.nlink === ib.nlink &&
    ia.size === ib.size
  );
}

/** Streams the differences of `a` and `b` under `start`. */
export async function diffImages(
  va: ImageViews,
  vb: ImageViews,
  start: string,
  deep: boolean,
  emit: (line: DiffLine) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  const options: ReadOptions = { signal };
  const a: Side = { views: va, fs: va.tree('merged') };
  const b: Side = { views: vb, fs: vb.tree('merged') };
  let scanned = 0;
  let count = 0;
  let skippedDirs = 0;
  let last = Date.now();
  const tick = async (at: string) => {
    scanned++;
    if (Date.now() - last < PROGRESS_EVERY_MS) return;
    last = Date.now();
    await emit({ t: 'progress', scanned, at });
  };
  /** Bytes of the files under (or of) one entry. */
  const bytes = async (s: Side, path: string, inode: Inode): Promise<number> => {
    if (inode.type !== 'dir') return inode.type === 'file' ? inode.size : 0;
    let n = 0;
    for await (const e of walk(s.fs, path, {
      signal,
      unsafeNames: 'skip',
      includeStart: false,
      prefetch: 64,
      followStart: false,
    })) {
      await tick(e.path);
      if (e.inode.type === 'file') n += e.inode.size;
    }
    return n;
  };
  const report = async (entry: DiffEntry): Promise<boolean> => {
    if (count >= MAX_DIFF_ENTRIES) return false;
    count++;
    await emit({ t: 'diff', entry });
    return true;
  };
  const ra = await resolveEntry(a.fs, start, options);
  const rb = await resolveEntry(b.fs, start, options);
  // The walk's checks, on each side: a directory that contains its ancestor (a hostile image)
  // ends the diff with an error instead of descending forever; unsafe names are skipped.
  const guardA = new TreeGuard('skip');
  const guardB = new TreeGuard('skip');
  guardA.enterDir(ra.path, ra.inode.ino);
  guardB.enterDir(rb.path, rb.inode.ino);
  const stack: { path: string; a: number; b: number }[] = [{ path: ra.path, a: ra.inode.ino, b: rb.inode.ino }];
  let truncated = false;
  while (stack.length && !truncated) {
    throwIfAborted(signal);
    const dir = stack.pop()!;
    const list = async (s: Side, ino: number) => {
      const m = new Map<string, number>();
      for await (const e of s.fs.readdir(ino, options)) m.set(e.name, e.ino);
      return m;
    };
    const [la, lb] = await Promise.all([list(a, dir.a), list(b, dir.b)]);
    const names = [...new Set([...la.keys(), ...lb.keys()])].filter((n) => guardA.acceptName(dir.path, n)).sort();
    const descend: typeof stack = [];
    for (const name of names) {
      const path = joinPath(dir.path, name);
      await tick(path);
      const xa = la.get(name);
      const xb = lb.get(name);
      const ia = xa === undefined ? undefined : await a.fs.getattr(xa, options);
      const ib = xb === undefined ? undefined : await b.fs.getattr(xb, options);
      let entry: DiffEntry | undefined;
      if (!ib) entry = { path, status: 'removed', type: ia!.type, sizeA: await bytes(a, path, ia!) };
      else if (!ia) entry = { path, status: 'added', type: ib.type, sizeB: await bytes(b, path, ib) };
      else if (ia.type !== ib.type)
        entry = {
          path,
          status: 'changed',
          type: ib.type,
          sizeA: await bytes(a, path, ia),
          sizeB: await bytes(b, path, ib),
          what: ['type'],
        };
      else if (ia.type === 'dir') {
        const what = await differences(a, ia, b, ib, options);
        if (what.length) entry = { path, status: 'changed', type: 'dir', what };
        if (await sameDir(a, ia, b, ib, options)) {
          // the same layer directories: the same tree
        } else if (!deep && sameDirMeta(ia, ib)) skippedDirs++;
        else {
          guardA.enterDir(path, ia.ino);
          guardB.enterDir(path, ib.ino);
          descend.push({ path, a: ia.ino, b: ib.ino });
        }
      } else if (!sameFile(a, ia, b, ib)) {
        const what = await differences(a, ia, b, ib, options);
        if (what.length) entry = { path, status: 'changed', type: ib.type, sizeA: ia.size, sizeB: ib.size, what };
      }
      if (entry && !(await report(entry))) {
        truncated = true;
        break;
      }
    }
    for (let i = descend.length - 1; i >= 0; i--) stack.push(descend[i]);
  }
  await emit({ t: 'done', scanned, differences: count, skippedDirs, truncated });
}
