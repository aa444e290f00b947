/**
 * Errors of the filesystem tools (path resolution, walking, merging; extraction's are in
 * `extract/errors.ts`). The errors every format shares (`NotADirectoryError`,
 * `SymlinkLoopError` ...) live in `./errors.ts`.
 *
 * @packageDocumentation
 */
import { OcifsError, type OcifsErrorOptions } from '../errors.js';

/**
 * The filesystem's directory structure is not a tree: a directory inode is met twice (it
 * contains itself, or two entries name it), so walking it might never end. Names the path and inode.
 */
export class DirectoryCycleError extends OcifsError {
  constructor(path: string, ino: number, options: OcifsErrorOptions = {}) {
    const why = 'a cycle or a directory hardlink: corrupt image';
    super('ERR_OCIFS_CORRUPT_DIRECTORY_CYCLE', `${path}: directory inode ${ino} appears twice in the tree (${why})`, {
      ...options,
      data: { path, ino, ...options.data },
    });
  }
}

/**
 * A name in the image cannot be written to a host filesystem safely: empty, `.`, `..`, or it
 * contains `/` or NUL. Such names only come from corrupt or hostile images.
 */
export class UnsafeNameError extends OcifsError {
  constructor(path: string, name: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_UNSAFE_NAME', `${path}: unsafe entry name ${JSON.stringify(name)} in image`, {
      ...options,
      data: { path, name, ...options.data },
    });
  }
}

/** A layer's inode number is too large to be combined with a layer index into one merged number. */
export class InodeRangeError extends OcifsError {
  constructor(layer: number, ino: number, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_INODE_RANGE', `layer ${layer}: inode number ${ino} is too large for a merged view`, {
      ...options,
      data: { layer, ino, ...options.data },
    });
  }
}

/** Longest path shown whole in a message; longer ones keep their start and end. */
const SHOWN_PATH = 240;

/**
 * `s` with every run of non-space characters longer than {@link SHOWN_PATH} (a path, usually: an
 * image may nest directories tens of KiB deep) cut to its first and last characters around `…`,
 * so an error stays one readable line. The full path stays in the error's `data`.
 */
export function abbreviatePaths(s: string): string {
  return s.replace(
    new RegExp(`\\S{${SHOWN_PATH + 1},}`, 'g'),
    (p) => `${p.slice(0, 80)}…(${p.length - 200} more)…${p.slice(-120)}`,
  );
}
