/**
 * EROFS layers of the additional layer store mounted by the kernel's EROFS driver: each layer
 * blob is served (lazily, through the cache) as one file of a private FUSE directory and
 * mounted file-backed on a directory of the store's own, and the layer's `diff` entry is a
 * symlink to that mount. containers/storage follows the symlink (its stat, and overlayfs's
 * lowerdir resolution), so containers read EROFS layers at kernel speed with the kernel's page
 * cache, while the store still serves only the byte ranges the kernel asks for.
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
import { mountKernel, type KernelMount } from '../../mount/mount-kernel.js';
import { MountStats } from '../../mount/mount-stats.js';
import { readMountInfo } from '../../mount/mountinfo.js';
import { runUnmount } from '../../mount/unmount-command.js';

/** A byte source read without the cache's readahead (every read says where its data ends). */
function withoutReadahead(source: ByteSource): ByteSource {
  return {
    size: source.size,
    read: (offset: number, length: number, options: ReadOptions = {}) => source.read(offset, length, { ...options, readaheadLimit: offset + length }),
  };
}

/** The kernel EROFS mounts of one store, under one directory. */
export class KernelLayers {
  private readonly mounts = new Map<string, Promise<KernelMount>>();
  /** What the kernel's EROFS driver read from the layers' blobs. */
  readonly stats = new MountStats();

  /** `dir` holds the mountpoints and the private FUSE directories of the blobs. */
  constructor(readonly dir: string) {}

  /** Detaches whatever a previous store left mounted under the directory (a store killed with -9). */
  async clearStale(): Promise<number> {
    const under = (await readMountInfo()).filter((m) => m.mountpoint.startsWith(this.dir + '/'));
    // Deepest and newest first: the EROFS mounts before the FUSE mounts that back them.
    under.sort((a, b) => b.mountId - a.mountId);
    for (const m of under) await runUnmount(m.mountpoint, { lazy: true, fuse: m.fstype.startsWith('fuse') }).catch(() => {});
    for (const sub of ['', 'backing']) {
      const d = join(this.dir, sub);
      for (const name of await readdir(d).catch(() => [] as string[])) await rmdir(join(d, name)).catch(() => {});
    }
    return under.length;
  }

  /** Mounts the EROFS blob for `key` (once) and returns the mountpoint. */
  mount(key: string, blob: ByteSource, fsname: string): Promise<string> {
    let m = this.mounts.get(key);
    if (!m) {
      m = this.mountNew(key, blob, fsname);
      m.catch(() => this.mounts.delete(key));
      this.mounts.set(key, m);
    }
    return m.then((k) => k.mountpoint);
  }

  private async mountNew(key: string, blob: ByteSource, fsname: string): Promise<KernelMount> {
    const mountpoint = join(this.dir, createHash('sha256').update(key).digest('hex').slice(0, 32));
    await mkdir(mountpoint, { recursive: true, mode: 0o700 });
    try {
      return await mountKernel(withoutReadahead(blob), mountpoint, { backingDir: join(this.dir, 'backing'), fsname, stats: this.stats });
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

  /** Unmounts every layer. */
  async close(): Promise<void> {
    for (const key of [...this.mounts.keys()]) await this.unmount(key);
  }
}
