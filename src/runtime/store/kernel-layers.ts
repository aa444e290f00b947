/**
 * EROFS layers of the additional layer store mounted by the kernel's EROFS driver: each layer
 * blob is served (lazily, through the cache) as one file of a private FUSE directory shared by
 * all of them ({@link SharedBacking}) and mounted file-backed on a directory of the store's
 * own, and the layer's `diff` entry is a symlink to that mount. containers/storage follows the
 * symlink (its stat, and overlayfs's lowerdir resolution), so containers read EROFS layers at
 * kernel speed with the kernel's page cache, while the store still serves only the byte ranges
 * the kernel asks for.
 *
 * The kernel does its own readahead: the blob is read without the cache's (as `ocifs mount
 * --kernel` does), so a cold file read fetches what the kernel asks and no more.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ByteSource, ReadOptions } from '../../io/byte-source.js';
import type { Mount } from '../../mount/mount-options.js';
import type { MountStats } from '../../mount/mount-stats.js';
import { readMountInfo } from '../../mount/mountinfo.js';
import { SharedBacking } from '../../mount/shared-backing.js';
import { runUnmount } from '../../mount/unmount-command.js';

/** A byte source read without the cache's readahead (every read says where its data ends). */
function withoutReadahead(source: ByteSource): ByteSource {
  return {
    size: source.size,
    read: (offset: number, length: number, options: ReadOptions = {}) =>
      source.read(offset, length, { ...options, readaheadLimit: offset + length }),
  };
}

/** The kernel EROFS mounts of one store, under one directory. */
export class KernelLayers {
  private readonly mounts = new Map<string, Promise<Mount>>();
  private readonly backing: SharedBacking;

  /** `dir` holds the mountpoints and the FUSE directory of the blobs (`backing`). */
  constructor(readonly dir: string) {
    this.backing = new SharedBacking(join(dir, 'backing'));
  }

  /** What the kernel's EROFS driver read from the layers' blobs. */
  get stats(): MountStats {
    return this.backing.stats;
  }

  /** Detaches whatever a previous store left mounted under the directory (a store killed with -9). */
  async clearStale(): Promise<number> {
    const under = (await readMountInfo()).filter((m) => m.mountpoint.startsWith(this.dir + '/'));
    // Newest first: the EROFS mounts before the FUSE mount that backs them.
    under.sort((a, b) => b.mountId - a.mountId);
    for (const m of under)
      await runUnmount(m.mountpoint, { lazy: true, fuse: m.fstype.startsWith('fuse') }).catch(() => {});
    for (const name of await readdir(this.dir).catch(() => [] as string[]))
      await rmdir(join(this.dir, name)).catch(() => {});
    return under.length;
  }

  /** Mounts the EROFS blob for `key` (once) and returns the mountpoint. */
  mount(key: string, blob: ByteSource): Promise<string> {
    let m = this.mounts.get(key);
    if (!m) {
      m = this.mountNew(key, blob);
      m.catch(() => this.mounts.delete(key));
      this.mounts.set(key, m);
    }
    return m.then((k) => k.mountpoint);
  }

  private async mountNew(key: string, blob: ByteSource): Promise<Mount> {
    const name = createHash('sha256').update(key).digest('hex').slice(0, 32);
    const mountpoint = join(this.dir, name);
    await mkdir(mountpoint, { recursive: true, mode: 0o700 });
    try {
      return await this.backing.mountErofs(withoutReadahead(blob), name, mountpoint);
    } catch (err) {
      await rmdir(mountpoint).catch(() => {});
      throw err;
    }
  }

  /** Unmounts `key`'s layer (lazily; storage releases a layer only once no image needs it). */
  async unmount(key: string): Promise<void> {
    const m = this.mounts.get(key);
    if (!m) return;
    this.mounts.delete(key);
    const k = await m.catch(() => undefined);
    if (!k) return;
    await k.unmount({ lazy: true });
    await rmdir(k.mountpoint).catch(() => {});
  }

  /** Unmounts every layer, then the backing files' directory. */
  async close(): Promise<void> {
    for (const key of [...this.mounts.keys()]) await this.unmount(key);
    await this.backing.close();
  }
}
