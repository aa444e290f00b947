/**
 * What a mount server opens: a description that survives a trip through JSON (the CLI hands it
 * to a background process), and the opened filesystem or blob it yields. Images are opened
 * through the facade (`src/image`), so a registry reference and a local image file work alike.
 *
 * @packageDocumentation
 */
import type { MountStats } from './mount-stats.js';
import type { ByteSource } from '../io/byte-source.js';
import { IoStats } from '../io/io-stats.js';
import { KernelNeedsOneLayerError, UnknownMountSourceError } from './errors.js';
import type { FileSystem } from '../vfs/types.js';
import type { RawMountOptions } from './raw/raw-tree-server.js';
import { openImage, type BlobSelector, type ImageBlob, type ImageOptions } from '../image/index.js';

/** The JSON-safe part of {@link ImageOptions} (no live objects: stats, signal, cache, client). */
export type MountImageOptions = Omit<ImageOptions, 'stats' | 'signal' | 'cache' | 'client'>;

/** How to open what is mounted. */
export interface MountSourceSpec {
  kind: 'image';
  /** An image reference, or a local image file path (`/…`, `./…`, `file:…`). */
  ref: string;
  /** How to reach the registry and the cache. */
  image?: MountImageOptions;
  /** One layer (or blob) instead of the merged layers. The kernel mode needs one EROFS layer. */
  selector?: BlobSelector;
}

/** Options of a fill of the cache in the background. */
export interface PrefetchOptions {
  /** Called as bytes become present: `done` of `total`. */
  onProgress(done: number, total: number): void;
  signal: AbortSignal;
}

/** An opened mount source. */
export interface OpenedSource {
  /** The file tree (file-tree mode). */
  fs?: FileSystem;
  /** A tree that takes signals through the mount (the layer store): served over raw FUSE with these. */
  raw?: RawMountOptions;
  /** The EROFS blob (kernel mode). */
  blob?: ByteSource;
  /** Digest of what is mounted (manifest digest, or the blob's for the kernel mode), when known. */
  digest?: string;
  /** Network counters. */
  ioStats?: IoStats;
  /**
   * Counters of what is served, for a source that serves through more mounts than the one made
   * for it (the layer store's kernel EROFS layers): the mount counts into them too.
   */
  stats?: MountStats;
  /** Fills the rest of the blob(s) at low priority (user reads first). */
  prefetch?(options: PrefetchOptions): Promise<void>;
  /** Releases everything the source opened. */
  close(): Promise<void>;
}

/** Opens a source for a mode; `tree` needs `fs`, `kernel` needs `blob`. */
export type SourceOpener = (spec: MountSourceSpec, mode: 'tree' | 'kernel') => Promise<OpenedSource>;

/** Fills `blobs` one after another at low priority, reporting the sum of present bytes. */
async function prefetchBlobs(blobs: ImageBlob[], o: PrefetchOptions): Promise<void> {
  const total = blobs.reduce((n, b) => n + b.size, 0);
  const done = blobs.map((b) => b.presentBytes);
  const report = () =>
    o.onProgress(
      done.reduce((a, b) => a + b, 0),
      total,
    );
  report();
  for (const [i, blob] of blobs.entries()) {
    await blob.prefetch({
      signal: o.signal,
      priority: 'low',
      onProgress: (present) => {
        done[i] = present;
        report();
      },
    });
    done[i] = blob.size;
    report();
  }
}

/** The built-in opener: the image facade. */
export const openMountSource: SourceOpener = async (spec, mode) => {
  if (spec.kind !== 'image') {
    throw new UnknownMountSourceError((spec as { kind: unknown }).kind);
  }
  const ioStats = new IoStats();
  // In kernel mode the EROFS driver's own readahead decides what to read; ours on top of it
  // would fetch several times what a cold file read needs.
  // A mount reads layers only: the image config is not fetched (one request fewer before it is ready).
  const image = await openImage(spec.ref, {
    config: false,
    ...spec.image,
    stats: ioStats,
    ...(mode === 'kernel' ? { readahead: false } : {}),
  });
  try {
    const selected =
      spec.selector && (spec.selector.layer !== undefined || spec.selector.digest !== undefined)
        ? spec.selector
        : undefined;
    if (mode === 'kernel') {
      if (!selected && image.layers.length !== 1) {
        throw new KernelNeedsOneLayerError(image.name, image.layers.length);
      }
      const blob = await image.openBlob(selected ?? { layer: 0 });
      return {
        blob,
        ...(blob.info.digest ? { digest: blob.info.digest } : {}),
        ioStats,
        prefetch: (o) => prefetchBlobs([blob], o),
        close: () => image.close(),
      };
    }
    const fs = await image.openFileSystem(selected);
    const infos = selected ? [image.select(selected)] : image.layers;
    const digest = image.resolved?.manifestDigest;
    return {
      fs,
      ...(digest ? { digest } : {}),
      ioStats,
      prefetch: async (o) => {
        const blobs: ImageBlob[] = [];
        for (const info of infos)
          blobs.push(await image.openBlob(info.index >= 0 ? { layer: info.index } : { digest: info.digest }));
        await prefetchBlobs(blobs, o);
      },
      close: () => image.close(),
    };
  } catch (err) {
    await image.close().catch(() => {});
    throw err;
  }
};
