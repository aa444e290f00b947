/**
 * Path resolution inside an image, the way Linux's namei walks a mounted filesystem: `.` and
 * empty components are skipped, `..` at the root stays at the root, symlinks are followed
 * INSIDE the image (an absolute target restarts at the image's root, never the host's), and
 * more than {@link DEFAULT_MAX_SYMLINKS} symlinks in one resolution is a loop.
 *
 * @packageDocumentation
 */
import { InvalidOptionError, NotFoundError, throwIfAborted } from '../errors.js';
import type { ReadOptions } from '../io/byte-source.js';
import { NotADirectoryError, SymlinkLoopError } from './errors.js';
import type { FileSystem, Inode } from './types.js';

/** Symlinks followed in one resolution before it is called a loop (Linux's `MAXSYMLINKS`). */
export const DEFAULT_MAX_SYMLINKS = 40;

/** Options of {@link resolvePath}. */
export interface ResolveOptions extends ReadOptions {
  /**
   * Follow a symlink in the last component (like `stat`, not `lstat`). Default true.
   * A trailing `/` always follows and requires a directory, as on Linux.
   */
  followFinal?: boolean;
  /** Symlinks allowed in one resolution (default {@link DEFAULT_MAX_SYMLINKS}). */
  maxSymlinks?: number;
}

/** What {@link resolveEntry} found. */
export interface ResolvedPath {
  inode: Inode;
  /** Canonical absolute path inside the image (symlinks followed as asked, no `.`/`..`). */
  path: string;
}

/** Resolves `path` (relative paths start at the root too) to the inode it names. */
export async function resolvePath(fs: FileSystem, path: string, options: ResolveOptions = {}): Promise<Inode> {
  return (await resolveEntry(fs, path, options)).inode;
}

/**
 * Resolves `path` and also returns its canonical path. Errors name the path as given:
 * `ERR_OCIFS_NOT_FOUND`, `ERR_OCIFS_NOT_A_DIRECTORY`, `ERR_OCIFS_SYMLINK_LOOP`.
 */
export async function resolveEntry(fs: FileSystem, path: string, options: ResolveOptions = {}): Promise<ResolvedPath> {
  const maxSymlinks = options.maxSymlinks ?? DEFAULT_MAX_SYMLINKS;
  if (!Number.isInteger(maxSymlinks) || maxSymlinks < 0)
    throw new InvalidOptionError('maxSymlinks', 'must be a non-negative integer');
  const signal = options.signal;
  const trailingSlash = /\/\.?$/.test(path) && path.replace(/[/.]+$/, '') !== '';
  const followFinal = (options.followFinal ?? true) || trailingSlash;
  const root = await fs.getattr(fs.rootIno, { signal });
  // The directories from the root to the current one, so `..` can go back without a lookup.
  const stack: { name: string; inode: Inode }[] = [{ name: '', inode: root }];
  // Components still to walk, last one at the end of the array (a symlink pushes its target's).
  const todo = components(path).reverse();
  let symlinks = 0;
  const here = () =>
    '/' +
    stack
      .slice(1)
      .map((s) => s.name)
      .join('/');
  while (todo.length > 0) {
    throwIfAborted(signal);
    const name = todo.pop()!;
    const dir = stack[stack.length - 1].inode;
    if (dir.type !== 'dir') throw new NotADirectoryError(path, { data: { component: here() } });
    if (name === '..') {
      if (stack.length > 1) stack.pop();
      continue;
    }
    const found = await fs.lookup(dir.ino, name, { signal });
    if (found === undefined) throw new NotFoundError(path, { data: { path, component: joinPath(here(), name) } });
    const last = todo.length === 0;
    if (found.type === 'symlink' && (!last || followFinal)) {
      if (++symlinks > maxSymlinks) throw new SymlinkLoopError(path, { data: { symlinks } });
      const target = await fs.readlink(found.ino, { signal });
      // Linux: an empty symlink target resolves to nothing (ENOENT).
      if (target === '') throw new NotFoundError(path, { data: { path, component: joinPath(here(), name) } });
      if (target.startsWith('/')) stack.length = 1;
      for (const c of components(target).reverse()) todo.push(c);
      continue;
    }
    stack.push({ name, inode: found });
  }
  const inode = stack[stack.length - 1].inode;
  if (trailingSlash && inode.type !== 'dir') throw new NotADirectoryError(path);
  return { inode, path: here() };
}

/** The components of a path, without empty ones and `.`. */
export function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

/** Joins a directory path and a name (`/` + `a` = `/a`). */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

/**
 * Normalises a path lexically (no symlinks): absolute, no `.`/`..`/empty components, `..` at
 * the root stays at the root. For display and for comparing requested subtrees.
 */
export function normalizePath(path: string): string {
  const out: string[] = [];
  for (const c of components(path)) {
    if (c === '..') out.pop();
    else out.push(c);
  }
  return '/' + out.join('/');
}
