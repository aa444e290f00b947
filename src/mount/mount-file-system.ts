import type { FileSystem } from '../vfs/types.js';
import { fuseMount } from './fuse-binding.js';
import { checkMountpoint } from './mountpoint.js';
import { connectionOptions, type Mount, type MountOptions } from './mount-options.js';
import { TreeOps, type TreeOpsOptions } from './tree-ops.js';

/** Options of {@link mountFileSystem}. */
export interface FileSystemMountOptions extends MountOptions, Omit<TreeOpsOptions, 'stats'> {}

/**
 * Mounts `fs` read-only at `mountpoint` through FUSE (the file-tree mode) and resolves once the
 * mount is ready. The mountpoint must be an existing, empty directory with nothing mounted on
 * it. Never read the mount from this process: serve it here, read it from another one.
 */
export async function mountFileSystem(fs: FileSystem, mountpoint: string, options: FileSystemMountOptions = {}): Promise<Mount> {
  const conn = connectionOptions(options);
  const ops = new TreeOps(fs, options);
  const mp = await checkMountpoint(mountpoint);
  const handle = await fuseMount(mp, ops, conn);
  return {
    mountpoint: mp,
    mode: 'tree',
    stats: ops.stats,
    unmount: (o) => handle.unmount(o),
  };
}
