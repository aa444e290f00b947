/**
 * The mounts a snapshot gives containerd, as containerd's overlayfs snapshotter makes them:
 *
 * - active, no parent: a read-write bind mount of the snapshot's own directory;
 * - active with parents: overlayfs with `upperdir`/`workdir` of the snapshot and `lowerdir` of
 *   the parents' directories, nearest first (a lazily mounted layer's directory is its mount);
 * - view with one parent: a read-only bind mount of the parent; with none, of its own empty
 *   directory; with more, a read-only overlayfs of the parents (lowerdir only).
 *
 * Paths are `ROOT/snapshots/N/fs` with small numbers, so `lowerdir` stays short (containerd
 * shortens option strings longer than a page itself, but short ones need no trick).
 *
 * @packageDocumentation
 */
import { existsSync } from 'node:fs';
import type { WireMount } from './proto.js';

/** The paths of one snapshot directory. */
export interface SnapshotPaths {
  /** The layer's tree: an unpacked layer, a lazily mounted one, or an active snapshot's upper dir. */
  fs: string;
  /** overlayfs's work directory of an active snapshot. */
  work: string;
}

/**
 * overlayfs's `index=off`, as containerd passes it when the kernel has the feature: lazily
 * mounted lower layers get new inode numbers when they are mounted again, which an inode
 * index would take for a changed layer.
 */
const INDEX_OFF = existsSync('/sys/module/overlay/parameters/index') ? ['index=off'] : [];

/** The mounts of a snapshot of `kind` with `own` paths and its parents' `fs` paths (nearest first). */
export function snapshotMounts(kind: 'active' | 'view', own: SnapshotPaths, parents: readonly string[]): WireMount[] {
  if (kind === 'active') {
    if (parents.length === 0) return [{ type: 'bind', source: own.fs, options: ['rw', 'rbind'] }];
    return [
      {
        type: 'overlay',
        source: 'overlay',
        options: [...INDEX_OFF, `workdir=${own.work}`, `upperdir=${own.fs}`, `lowerdir=${parents.join(':')}`],
      },
    ];
  }
  if (parents.length === 0) return [{ type: 'bind', source: own.fs, options: ['ro', 'rbind'] }];
  if (parents.length === 1) return [{ type: 'bind', source: parents[0], options: ['ro', 'rbind'] }];
  return [{ type: 'overlay', source: 'overlay', options: [...INDEX_OFF, `lowerdir=${parents.join(':')}`] }];
}
