/**
 * The images and layers an additional layer store serves: an image reference is resolved once
 * (manifest and config through the registry client, blobs through the shared cache) and kept
 * open while any of its layers is; a layer is found by its compressed digest (containers/storage
 * up to 1.53) or by its TOC digest (1.54+, eStargz and zstd:chunked layers), and its tree is
 * opened once, shown with overlayfs whiteouts.
 *
 * @packageDocumentation
 */
import type { ByteSource, ReadOptions } from '../../io/byte-source.js';
import { detectLayerFormat, type BlobInfo, type Image, type LayerFormat } from '../../image/index.js';
import type { FileSystem } from '../../vfs/types.js';
import { OverlayWhiteoutFs } from '../../vfs/overlay-whiteouts.js';
import { layerInfo, tocDigestOf } from './layer-info.js';
import { LayerNotInImageError } from './errors.js';

/** Opens an image reference for the store (credentials, mirrors, cache and platform bound in). */
export type ImageOpener = (ref: string, options: ReadOptions) => Promise<Image>;

/** One layer of one image reference, as the store serves it. */
export interface StoreLayer {
  /** The image reference containers/storage named. */
  readonly ref: string;
  /** The digest it named: the layer's compressed digest or its TOC digest. */
  readonly name: string;
  /** The layer's descriptor in the image's manifest. */
  readonly layer: BlobInfo;
  /** The `info` file's bytes. */
  readonly info: Uint8Array;
  /** The layer's tree with overlayfs whiteouts (read, or indexed, on first use; then kept). */
  readonly tree: FileSystem;
  /** The layer blob, read through the cache. */
  blob(): Promise<ByteSource>;
  /** What the blob holds, from its first bytes (which every way of reading it needs anyway). */
  format(): Promise<LayerFormat>;
  /** How the layer is read, once its tree has been opened. */
  describe(): Promise<LayerAccess>;
}

/** How a layer's tree is read. */
export interface LayerAccess {
  /** `erofs`, `tar+gzip (estargz)`, `tar+gzip (soci)`, `tar+gzip (gzip)` … */
  format: string;
  /**
   * False when opening the tree read the whole layer once: a plain tar+gzip layer (no SOCI
   * index, not eStargz) is indexed in one pass, a single-frame tar+zstd decompressed once.
   */
  lazy: boolean;
}

interface ImageEntry {
  image: Promise<Image>;
  /** Layers handed out plus lookups under way; the image closes when it reaches 0. */
  holds: number;
}

/** Resolves references and hands out their layers. */
export class StoreImages {
  private readonly images = new Map<string, ImageEntry>();

  constructor(private readonly open: ImageOpener) {}

  /**
   * The layer `name` (compressed or TOC digest) of the image `ref`. Rejects with
   * {@link LayerNotInImageError} when the image has no such layer, and with the registry's
   * error when the reference cannot be resolved. Give the layer back with {@link release}.
   */
  async layer(ref: string, name: string, options: ReadOptions = {}): Promise<StoreLayer> {
    const entry = this.hold(ref, options);
    try {
      const image = await entry.image;
      const found = findLayer(image, name);
      if (!found) throw new LayerNotInImageError(ref, name);
      const { layer, byToc } = found;
      const diffId = image.resolved?.config?.rootfs.diff_ids[layer.index];
      const info = new TextEncoder().encode(JSON.stringify(layerInfo(layer, diffId, byToc ? name : undefined)) + '\n');
      // The image's per-layer filesystem: returned at once, opened (read, indexed) on first use.
      const tree = new OverlayWhiteoutFs(await image.openFileSystem({ digest: layer.digest }));
      return {
        ref,
        name,
        layer,
        info,
        tree,
        blob: () => image.openBlob({ digest: layer.digest }),
        format: async () => detectLayerFormat(await image.openBlob({ digest: layer.digest }), `${ref} layer ${layer.digest}`, layer.mediaType),
        describe: async () => {
          const s = await image.layerSummary({ digest: layer.digest });
          const access = typeof s.details.access === 'string' ? s.details.access : undefined;
          return { format: s.format + (access && access !== 'tar' ? ` (${access})` : ''), lazy: access !== 'gzip' && access !== 'zstd' };
        },
      };
    } catch (err) {
      await this.drop(ref);
      throw err;
    }
  }

  /** Gives a layer back; the image closes with its last layer. */
  async release(layer: StoreLayer): Promise<void> {
    await this.drop(layer.ref);
  }

  /** Closes every image (the store is stopping). */
  async close(): Promise<void> {
    const all = [...this.images.values()];
    this.images.clear();
    for (const e of all) await e.image.then((i) => i.close(), () => {});
  }

  private hold(ref: string, options: ReadOptions): ImageEntry {
    let entry = this.images.get(ref);
    if (!entry) {
      // Resolved without the caller's signal: other lookups of the image share it.
      const image = this.open(ref, {});
      image.catch(() => {});
      entry = { image, holds: 0 };
      this.images.set(ref, entry);
    }
    options.signal?.throwIfAborted();
    entry.holds++;
    return entry;
  }

  private async drop(ref: string): Promise<void> {
    const entry = this.images.get(ref);
    if (!entry || --entry.holds > 0) return;
    this.images.delete(ref);
    await entry.image.then((i) => i.close(), () => {});
  }
}

/** The layer `name` names, and whether it named it by its TOC digest. */
function findLayer(image: Image, name: string): { layer: BlobInfo; byToc: boolean } | undefined {
  const byDigest = image.layers.find((l) => l.digest === name);
  if (byDigest) return { layer: byDigest, byToc: false };
  const byToc = image.layers.find((l) => tocDigestOf(l) === name);
  return byToc ? { layer: byToc, byToc: true } : undefined;
}
