/**
 * The backing files of many kernel EROFS mounts (the snapshotter keeper's layers, the layer
 * store's), all served by one FUSE mount (a {@link BlobDirectory}) made on first use: mounting
 * an EROFS layer then costs one mount(2) through the kept helper, not a FUSE mount (a mount(8)
 * run and a reader thread) plus a perl run per layer — under load, most of a layer's mount time.
 *
 * @packageDocumentation
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ByteSource } from '../io/byte-source.js';
import { BlobDirectory } from './blob-directory.js';
import { mountErofsFile, prepareErofsFileMounts } from './mount-kernel.js';
import { mountFileSystem } from './mount-file-system.js';
import type { Mount } from './mount-options.js';
import { MountStats } from './mount-stats.js';
import { checkMountpoint } from './mountpoint.js';
import { runUnmount } from './unmount-command.js';

/** One FUSE directory of backing files for many kernel EROFS mounts. */
export class SharedBacking {
  private readonly dir = new BlobDirectory();
  private fuse: Promise<Mount> | undefined;
  private next = 0;
  /** What the backing files served (bytes the kernel's EROFS driver read). */
  readonly stats = new MountStats();

  constructor(private readonly path: string) {}

  private mounted(): Promise<Mount> {
    this.fuse ??= (async () => {
      await mkdir(this.path, { recursive: true, mode: 0o700 });
      // The kernel opens each backing file as root at mount time: no allow_other needed.
      return mountFileSystem(this.dir, this.path, { fsname: 'ocifs-backing', stats: this.stats });
    })().catch((err: unknown) => {
      this.fuse = undefined;
      throw err;
    });
    return this.fuse;
  }

  /** Mounts the directory and starts the mount(2) helper ahead of the first layer; errors wait for it. */
  prepare(): void {
    prepareErofsFileMounts();
    this.mounted().catch(() => {});
  }

  /** Mounts the EROFS image `blob` at `mountpoint` (an empty directory) with the kernel's driver. */
  async mountErofs(blob: ByteSource, label: string, mountpoint: string): Promise<Mount & { via: 'file' | 'loop' }> {
    const mp = await checkMountpoint(mountpoint);
    await this.mounted();
    const name = `${label}-${++this.next}`;
    this.dir.add(name, blob);
    let via: 'file' | 'loop';
    try {
      via = await mountErofsFile(join(this.path, name), mp, 'auto');
    } catch (err) {
      this.dir.remove(name);
      throw err;
    }
    let done = false;
    return {
      mountpoint: mp,
      mode: 'kernel',
      via,
      stats: this.stats,
      unmount: async ({ lazy = true } = {}) => {
        if (done) return;
        await runUnmount(mp, { lazy, fuse: false });
        this.dir.remove(name);
        done = true;
      },
    };
  }

  /** Unmounts the backing directory (after every EROFS mount on it is gone). */
  async close(): Promise<void> {
    const f = await this.fuse?.catch(() => undefined);
    this.fuse = undefined;
    await f?.unmount({ lazy: true });
  }
}
