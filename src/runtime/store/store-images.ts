/**
 * The images and layers an additional layer store serves: an image reference is resolved once
 * (manifest and config through the registry client, blobs through the shared cache) and kept
 * open while any of its layers is; a layer is found by its compressed digest (containers/storage
 * up to 1.53) or by its TOC digest (1.54+, eStargz and zstd:chunked layers), and its tree is
 * opened once, shown with overlayfs whiteouts. A digest the resolved image does not have makes
 * the reference resolve again: a tag that moved (a new push) names new layers.
 *
 * @packageDocumentation
 */
import type { ByteSource, ReadOptions } from '../../io/byte-source.js';
import { detectLayerFormat, type BlobInfo, type Image, type LayerFormat } from '../../image/index.js';
import type { FileSystem } from '../../vfs/types.js';
import { OverlayLayerFileSystem } from '../../vfs/overlay-layer.js';
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

/** A resolved image and the layers of it handed out. */
interface Held {
  image: Image;
  holds: number;
}

/** Resolves references and hands out their layers. */
export class StoreImages {
  /** The image each reference resolved to last (a tag that moves resolves to a new one). */
  private readonly current = new Map<string, Promise<Held>>();

  constructor(private readonly open: ImageOpener) {}

  /**
   * The layer `name` (compressed or TOC digest) of the image `ref`. Rejects with
   * {@link LayerNotInImageError} when the image has no such layer, and with the registry's
   * error when the reference cannot be resolved. Give the layer back with {@link release}.
   */
  async layer(ref: string, name: string, options: ReadOptions = {}): Promise<StoreLayer> {
    options.signal?.throwIfAborted();
    let held = await this.resolve(ref);
    let found = findLayer(held.image, name);
    if (!found) {
      // The tag may have moved since it was resolved (a new push): resolve it once more.
      let fresh: Held;
      try {
        fresh = { image: await this.open(ref, {}), holds: 0 };
      } catch (err) {
        await this.closeIfIdle(ref, held);
        throw err;
      }
      if (fresh.image.resolved?.manifestDigest !== held.image.resolved?.manifestDigest) {
        this.current.set(ref, Promise.resolve(fresh));
        await this.closeIfIdle(ref, held);
        held = fresh;
        found = findLayer(fresh.image, name);
      } else {
        await fresh.image.close();
      }
    }
    if (!found) {
      await this.closeIfIdle(ref, held);
      throw new LayerNotInImageError(ref, name);
    }
    held.holds++;
    try {
      return await this.makeLayer(ref, name, held, found.layer, found.byToc);
    } catch (err) {
      held.holds--;
      await this.closeIfIdle(ref, held);
      throw err;
    }
  }

  /** Gives a layer back; an image closes with its last layer. */
  async release(layer: StoreLayer): Promise<void> {
    const held = heldOf.get(layer);
    if (!held) return;
    heldOf.delete(layer);
    held.holds--;
    await this.closeIfIdle(layer.ref, held);
  }

  /** Closes every image (the store is stopping). */
  async close(): Promise<void> {
    const all = [...this.current.values()];
    this.current.clear();
    for (const p of all)
      await p.then(
        (h) => h.image.close(),
        () => {},
      );
  }

  private resolve(ref: string): Promise<Held> {
    let p = this.current.get(ref);
    if (!p) {
      // Resolved without a caller's signal: every lookup of the reference shares it.
      const opening = this.open(ref, {}).then((image): Held => ({ image, holds: 0 }));
      // A failure is not kept: the next lookup tries again (a registry may be back).
      opening.catch(() => {
        if (this.current.get(ref) === opening) this.current.delete(ref);
      });
      this.current.set(ref, opening);
      p = opening;
    }
    return p;
  }

  /** Closes an image no layer is handed out of (and forgets it, when it is the current one). */
  private async closeIfIdle(ref: string, held: Held): Promise<void> {
    if (held.holds > 0) return;
    const cur = this.current.get(ref);
    if (cur && (await cur.catch(() => undefined)) === held) this.current.delete(ref);
    await held.image.close();
  }

  private async makeLayer(ref: string, name: string, held: Held, layer: BlobInfo, byToc: boolean): Promise<StoreLayer> {
    const image = held.image;
    const diffId = image.resolved?.config?.rootfs.diff_ids[layer.index];
    const info = new TextEncoder().encode(JSON.stringify(layerInfo(layer, diffId, byToc ? name : undefined)) + '\n');
    // The image's per-layer filesystem: returned at once, opened (read, indexed) on first use.
    const tree = new OverlayLayerFileSystem(await image.openFileSystem({ digest: layer.digest }));
    const blob = () => image.openBlob({ digest: layer.digest });
    const out: StoreLayer = {
      ref,
      name,
      layer,
      info,
      tree,
      blob,
      format: async () => detectLayerFormat(await blob(), `${ref} layer ${layer.digest}`, layer.mediaType),
      describe: async () => {
        const s = await image.layerSummary({ digest: layer.digest });
        const access = typeof s.details.access === 'string' ? s.details.access : undefined;
        return {
          format: s.format + (access && access !== 'tar' ? ` (${access})` : ''),
          lazy: access !== 'gzip' && access !== 'zstd',
        };
      },
    };
    heldOf.set(out, held);
    return out;
  }
}

/** The image each handed-out layer holds. */
const heldOf = new WeakMap<StoreLayer, Held>();

/** The layer `name` names, and whether it named it by its TOC digest. */
function findLayer(image: Image, name: string): { layer: BlobInfo; byToc: boolean } | undefined {
  const byDigest = image.layers.find((l) => l.digest === name);
  if (byDigest) return { layer: byDigest, byToc: false };
  const byToc = image.layers.find((l) => tocDigestOf(l) === name);
  return byToc ? { layer: byToc, byToc: true } : undefined;
}
