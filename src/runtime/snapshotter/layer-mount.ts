/**
 * Mounts one registry layer for overlayfs, lazily: the keeper's unit of work.
 *
 * - An EROFS layer is mounted by the kernel's EROFS driver over the blob served through FUSE
 *   from the cache (src/mount's kernel mode); its whiteouts are whatever the image holds, and
 *   EROFS layers made for overlayfs (`mkfs.erofs` of a tree with 0/0 devices and opaque
 *   xattrs, erofs-utils' `--tar --aufs` conversion) hold overlayfs's.
 * - Every other layer (tar, tar+gzip with a gzip index or a SOCI zTOC, eStargz, tar+zstd,
 *   zstd:chunked) is read by ocifs's tree readers and served through FUSE as an overlayfs
 *   lower layer: OCI whiteouts shown as overlayfs's ({@link overlayLayerView}).
 *
 * Both are mounted so a container sees what an unpacked layer would give it: setuid/setgid
 * honoured (`suid`), device nodes usable (`dev`), every user allowed (`allow_other`, the
 * kernel checking modes with `default_permissions`). The snapshotter root (0700) keeps host
 * users from reaching the mounts, as containerd's own root does for unpacked layers.
 *
 * Nothing here talks to the registry before the first read: a layer known from the
 * snapshotter's metadata is mounted again after a restart from what the cache holds.
 *
 * @packageDocumentation
 */
import { debuglog } from 'node:util';
import type { IoStats } from '../../io/io-stats.js';
import { parseReference, type ImageReference } from '../../ref/index.js';
import type { RegistryClient } from '../../registry/index.js';
import type { BlobCache } from '../../cache/index.js';
import {
  detectLayerFormat,
  findSociIndex,
  openLayerFileSystem,
  openRegistryBlob,
  summarizeLayerFileSystem,
  type ImageBlob,
} from '../../image/index.js';
import { mountFileSystem, type Mount } from '../../mount/index.js';
import { MAX_ZTOC_SIZE, type ZtocDescriptor } from '../../tar/soci.js';
import { overlayLayerView } from '../../vfs/overlay-layer.js';
import type { FileSystem } from '../../vfs/types.js';
import type { KeeperMetrics } from './keeper-metrics.js';
import type { RemoteLayer } from './metadata-store.js';
import type { SharedBacking } from '../../mount/shared-backing.js';

const debug = debuglog('ocifs:snapshotter');

/** What {@link mountLayer} works with (shared by all layers of a keeper). */
export interface LayerMountContext {
  client: RegistryClient;
  cache: BlobCache;
  stats: IoStats;
  metrics: KeeperMetrics;
  /** The FUSE directory that serves the backing files of kernel EROFS mounts. */
  backing: SharedBacking;
  /** `tree` mounts EROFS layers as FUSE trees too. */
  erofsMode: 'auto' | 'tree';
  /** SOCI indexes by manifest digest, shared by the layers of an image. */
  soci: Map<string, Promise<Map<string, ZtocDescriptor>>>;
}

/** A mounted layer. */
export interface MountedLayer {
  mountpoint: string;
  layer: RemoteLayer;
  mode: 'tree' | 'kernel';
  format: string;
  access?: string;
  blob: ImageBlob;
  mount: Mount;
  started: string;
  /** Unmounts (lazily) and releases the blob. */
  close(): Promise<void>;
}

/** True for media types that name an EROFS layer (`application/vnd.erofs.layer.v1`, `…layer.v1.erofs`). */
export function isErofsMediaType(mediaType: string): boolean {
  return /erofs/i.test(mediaType);
}

/** The SOCI zTOC of a gzip layer, when its image has a SOCI index (looked up once per image). */
async function ztocOf(
  ctx: LayerMountContext,
  ref: ImageReference,
  layer: RemoteLayer,
): Promise<Uint8Array | undefined> {
  if (!layer.manifestDigest) return undefined;
  let index = ctx.soci.get(layer.manifestDigest);
  if (!index) {
    const image = {
      manifestDigest: layer.manifestDigest,
      manifest: { ...(layer.manifestAnnotations ? { annotations: layer.manifestAnnotations } : {}) },
    };
    index = findSociIndex(ctx.client, ref, image).catch((err: unknown) => {
      debug('%s: no SOCI index (%s)', layer.ref, err instanceof Error ? err.message : String(err));
      return new Map<string, ZtocDescriptor>();
    });
    ctx.soci.set(layer.manifestDigest, index);
  }
  const d = (await index).get(layer.digest);
  return d ? ctx.client.fetchBlob(ref, d, { maxSize: MAX_ZTOC_SIZE }) : undefined;
}

/** Mounts `layer` at `mountpoint` (an existing empty directory); see the module comment. */
export async function mountLayer(
  ctx: LayerMountContext,
  layer: RemoteLayer,
  mountpoint: string,
): Promise<MountedLayer> {
  const ref = parseReference(layer.ref);
  const info = {
    index: 0,
    digest: layer.digest,
    mediaType: layer.mediaType,
    size: layer.size,
    ...(layer.annotations ? { annotations: layer.annotations } : {}),
  };
  const t0 = performance.now();
  const lap = (what: string) =>
    debug('%s: %s after %d ms', layer.digest.slice(7, 19), what, Math.round(performance.now() - t0));
  const erofsHint = isErofsMediaType(layer.mediaType) && ctx.erofsMode === 'auto';
  // In kernel mode the EROFS driver's own readahead decides what to read.
  const blob = await openRegistryBlob(ctx.client, ctx.cache, ref, info, {
    stats: ctx.stats,
    ...(erofsHint ? { readahead: false } : {}),
    wrapUpstream: (remote) => ctx.metrics.timed(remote),
  });
  const name = `${layer.ref} layer ${layer.digest}`;
  const fsname = `ocifs:${layer.digest.slice(0, 19)}`;
  try {
    lap('blob open');
    const format = await detectLayerFormat(blob, name, layer.mediaType);
    lap(`format ${format} known`);
    const started = new Date().toISOString();
    let mount: Mount;
    let mode: 'tree' | 'kernel';
    let access: string | undefined;
    let tree: FileSystem | undefined;
    if (format === 'erofs' && ctx.erofsMode === 'auto' && process.getuid?.() === 0) {
      mount = await ctx.backing.mountErofs(blob, layer.digest.replace(':', '-'), mountpoint);
      mode = 'kernel';
    } else {
      tree = await openLayerFileSystem(blob, { name, cache: ctx.cache, ztoc: () => ztocOf(ctx, ref, layer) });
      const summarized = summarizeLayerFileSystem(tree).details.access;
      access = typeof summarized === 'string' ? summarized : format;
      const view = overlayLayerView(tree);
      mount = await mountFileSystem(view, mountpoint, {
        fsname,
        allowOther: true,
        suid: true,
        dev: true,
        noXattrs: view.xattrFree(),
      }).catch(async (err: unknown) => {
        await tree?.close?.();
        throw err;
      });
      mode = 'tree';
    }
    lap(`mounted (${format}, ${mode}) on ${mountpoint}`);
    let closed = false;
    return {
      mountpoint,
      layer,
      mode,
      format,
      ...(access ? { access } : {}),
      blob,
      mount,
      started,
      async close() {
        if (closed) return;
        closed = true;
        await mount.unmount({ lazy: true });
        await tree?.close?.();
        await blob.close();
      },
    };
  } catch (err) {
    await blob.close().catch(() => {});
    throw err;
  }
}
