import { InvalidOptionError } from '../errors.js';
import type { FileSystem } from '../vfs/types.js';
import { checkFuseAvailable, defaultBackend, fuseMount } from './fuse-binding.js';
import { checkMountpoint } from './mountpoint.js';
import { MountStats } from './mount-stats.js';
import { connectionOptions, type Mount, type MountOptions } from './mount-options.js';
import { rawFuseMount, type RawMountOptions } from './raw/raw-tree-server.js';
import { TreeOps, type TreeOpsOptions } from './tree-ops.js';

/** Options of {@link mountFileSystem}. */
export interface FileSystemMountOptions extends MountOptions, Omit<TreeOpsOptions, 'stats'> {
  /**
   * How FUSE is spoken. `raw` (root only): ocifs talks to `/dev/fuse` itself, which lets the
   * kernel cache directory listings and symlinks, read 1 MiB at a time, and see 64-bit inode
   * numbers and nanosecond times. `libfuse`: the fuse-native binding (libfuse 2), which also
   * works for non-root users through fusermount. `auto` (default): `raw` as root, else `libfuse`.
   */
  backend?: 'auto' | 'raw' | 'libfuse';
  /** Hooks and a read-write mount for a tree that takes signals (root only; implies `raw`). */
  raw?: Pick<RawMountOptions, 'hooks' | 'writable'>;
}

export { defaultBackend } from './fuse-binding.js';

/**
 * Mounts `fs` read-only at `mountpoint` through FUSE (the file-tree mode) and resolves once the
 * mount is ready. The mountpoint must be an existing, empty directory with nothing mounted on
 * it. Never read the mount from this process: serve it here, read it from another one.
 */
export async function mountFileSystem(
  fs: FileSystem,
  mountpoint: string,
  options: FileSystemMountOptions = {},
): Promise<Mount> {
  const conn = connectionOptions(options);
  const backend = options.backend ?? 'auto';
  if (!['auto', 'raw', 'libfuse'].includes(backend))
    throw new InvalidOptionError('backend', 'must be auto, raw or libfuse');
  const mp = await checkMountpoint(mountpoint);
  if (options.raw && backend === 'libfuse') throw new InvalidOptionError('raw', 'needs the raw backend');
  await checkFuseAvailable(options.raw ? 'raw' : backend);
  if (options.raw || (backend === 'auto' ? defaultBackend() : backend) === 'raw') {
    const h = await rawFuseMount(fs, mp, conn, options.stats ?? new MountStats(), { ...options, ...options.raw });
    return { mountpoint: mp, mode: 'tree', stats: h.stats, unmount: (o) => h.unmount(o) };
  }
  const ops = new TreeOps(fs, options);
  const handle = await fuseMount(mp, ops, conn);
  return {
    mountpoint: mp,
    mode: 'tree',
    stats: ops.stats,
    unmount: (o) => handle.unmount(o),
  };
}
