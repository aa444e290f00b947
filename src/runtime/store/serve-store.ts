/**
 * `ocifs store`: serves the additional layer store at its root until stopped — one FUSE mount
 * (root only, raw `/dev/fuse`), recorded like every ocifs mount (so `ocifs mounts` lists it
 * and `ocifs umount ROOT` stops it), over one registry client and one blob cache shared by
 * every image it resolves.
 *
 * Mount options: read-write (containers/storage signals through `use` creates and `rmdir`s;
 * every other change is EROFS), `allow_other` with the root directory 0700 (only root gets
 * in; a container's processes reach their layers through overlayfs, which works with its
 * mounter's credentials), `nosuid,nodev` on the store itself: setuid binaries and devices of
 * a layer work in containers because overlayfs, not this mount, is what they run from.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { IoStats } from '../../io/io-stats.js';
import { openImage, openImageCache, type ImageOptions } from '../../image/index.js';
import { RegistryClient } from '../../registry/index.js';
import { NotRootError } from '../../mount/errors.js';
import { canonicalMountpoint, mountsAt } from '../../mount/mountinfo.js';
import { readRecord, removeRecord, serverAlive, type MountRecord } from '../../mount/mount-record.js';
import type { OpenedSource } from '../../mount/mount-source.js';
import { serveMount } from '../../mount/serve-mount.js';
import { defaultStateDir } from '../../mount/state-dir.js';
import { runUnmount } from '../../mount/unmount-command.js';
import { StoreRootError } from './errors.js';
import { KernelLayers } from './kernel-layers.js';
import { StoreFs, type StoreLog } from './store-fs.js';
import { StoreImages } from './store-images.js';

/** The store's root when none is given (what the README's storage.conf names). */
export const DEFAULT_STORE_ROOT = '/var/lib/ocifs/store';

/** What `ocifs mounts` shows as the store's image. */
export const STORE_RECORD_REF = 'additional layer store';

/** The image options the store applies to every reference (no live objects but none needed). */
export type StoreImageOptions = Pick<
  ImageOptions,
  'cacheDir' | 'noCache' | 'chunkSize' | 'cacheMaxSize' | 'platform' | 'registry' | 'verifyBeforeServe'
>;

/** Options of {@link serveStore}. */
export interface StoreOptions {
  /** The store's root directory (created 0700 when missing). Default {@link DEFAULT_STORE_ROOT}. */
  root?: string;
  /** Registry, cache and platform options for every image. */
  image?: StoreImageOptions;
  /** State directory of the mount record. Default: `defaultStateDir()`. */
  stateDir?: string;
  /** Event lines (layers served and released, failures). */
  log?: StoreLog;
  /**
   * Mount EROFS layers with the kernel's EROFS driver, `diff` a symlink to the mount (default
   * true); false serves their trees through the store's FUSE tree like tar layers'.
   */
  kernelErofs?: boolean;
  /** Called once the store is mounted. */
  onReady?: (record: MountRecord) => void;
  /** Aborting it unmounts and returns. */
  signal?: AbortSignal;
  /** Unmount and return on SIGINT/SIGTERM/SIGHUP. Default true. */
  handleSignals?: boolean;
}

/**
 * Serves the store until a signal (or `signal`) stops it or its mount is removed, then
 * unmounts and releases everything. Refuses a root another live store serves; clears the
 * mount a killed store left behind.
 */
export async function serveStore(options: StoreOptions = {}): Promise<void> {
  const stateDir = options.stateDir ?? defaultStateDir();
  const log = options.log ?? (() => {});
  const given = options.root ?? DEFAULT_STORE_ROOT;
  if (process.getuid?.() !== 0) throw new NotRootError(given);
  // The mount a killed store left answers ENOTCONN: cleared before the directory is touched.
  await clearStaleStore(await canonicalMountpoint(given), stateDir, log);
  await mkdir(given, { recursive: true, mode: 0o700 });
  const root = await canonicalMountpoint(given);
  const kernel =
    options.kernelErofs === false
      ? undefined
      : new KernelLayers(join(stateDir, 'store-layers', createHash('sha256').update(root).digest('hex').slice(0, 16)));
  const stale = await kernel?.clearStale();
  if (stale) log(`cleared ${stale} EROFS layer mount(s) a stopped store left`);
  await serveMount(
    {
      mountpoint: root,
      mode: 'tree',
      ref: STORE_RECORD_REF,
      source: { kind: 'image', ref: STORE_RECORD_REF },
      stateDir,
      options: { allowOther: true, fsname: 'ocifs-store' },
    },
    {
      open: () => openStore(options.image ?? {}, log, kernel),
      ...(options.onReady ? { onReady: options.onReady } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.handleSignals !== undefined ? { handleSignals: options.handleSignals } : {}),
    },
  );
}

/** Refuses a root a live store serves; unmounts what a dead one left there. */
async function clearStaleStore(root: string, stateDir: string, log: StoreLog): Promise<void> {
  const record = await readRecord(stateDir, root);
  if (record && (await serverAlive(record)))
    throw new StoreRootError(root, `another ocifs process (pid ${record.pid}) serves it`);
  const here = await mountsAt(root);
  if (here.length === 0) return;
  if (!here.every((m) => m.fstype === 'fuse.ocifs'))
    throw new StoreRootError(root, `something else is mounted there (${here.map((m) => m.fstype).join(', ')})`);
  // A store killed with -9 leaves its mount answering ENOTCONN: detach it.
  await runUnmount(root, { lazy: true, fuse: true });
  await removeRecord(stateDir, root);
  log(`cleared the mount a stopped store left at ${root}`);
}

/** The store's tree over one client and one cache, as a mount source. */
async function openStore(o: StoreImageOptions, log: StoreLog, kernel: KernelLayers | undefined): Promise<OpenedSource> {
  const ioStats = new IoStats();
  const client = new RegistryClient({ ...o.registry, stats: ioStats });
  const cache = await openImageCache(o, ioStats).catch(async (err: unknown) => {
    await client.close();
    throw err;
  });
  const images = new StoreImages((ref) =>
    openImage(ref, {
      client,
      cache,
      stats: ioStats,
      ...(o.platform !== undefined ? { platform: o.platform } : {}),
      ...(o.verifyBeforeServe ? { verifyBeforeServe: true } : {}),
    }),
  );
  const fs = new StoreFs(images, { log, ...(kernel ? { kernel } : {}) });
  return {
    fs,
    raw: { hooks: fs.hooks(), writable: true },
    ioStats,
    // The record's bytes served count what the kernel read from EROFS layers too.
    ...(kernel ? { stats: kernel.stats } : {}),
    async close() {
      await fs.close();
      await kernel?.close();
      await images.close();
      await cache.close();
      await client.close();
    },
  };
}
