/**
 * The filesystem views the web server shows of one opened image: the merged tree of all
 * layers, the tree as it stood after layer N (layers 0…N merged — the `dive` view, where layer
 * N's changes are marked), and each layer alone. Every view is built from the image's own lazy
 * layer filesystems, so a layer is opened (and, for gzip, indexed) only when a lookup reaches it.
 *
 * @packageDocumentation
 */
import { NoSuchLayerError, type Image } from '../image/index.js';
import { MergedFileSystem } from '../vfs/merge.js';
import type { FileSystem } from '../vfs/types.js';

/** Which tree: all layers merged, or the tree as it stood after one layer. */
export type ViewName = 'merged' | number;

/** A bad `layer` parameter. */
export class NoSuchViewError extends NoSuchLayerError {
  constructor(layer: string, layers: number) {
    super(`no layer ${JSON.stringify(layer.slice(0, 40))}: give "merged" or 0…${layers - 1}`, { layer, layers });
  }
}

/** Parses a `layer` query parameter (`merged`, absent, `0`…`N-1`, or `-1` for the top). */
export function parseViewName(value: string | null, layers: number): ViewName {
  if (value === null || value === '' || value === 'merged') return 'merged';
  if (!/^-?\d{1,6}$/.test(value)) throw new NoSuchViewError(value, layers);
  const n = Number(value);
  const i = n < 0 ? layers + n : n;
  if (i < 0 || i >= layers) throw new NoSuchViewError(value, layers);
  return i;
}

/** One opened image and its views. */
export class ImageViews {
  private readonly cumulative = new Map<number, MergedFileSystem>();
  private readonly layerFs: FileSystem[] = [];

  private constructor(readonly image: Image) {}

  /** Opens the layer filesystems of `image` (lazily: nothing is read yet). */
  static async of(image: Image): Promise<ImageViews> {
    const v = new ImageViews(image);
    for (let i = 0; i < image.layers.length; i++) v.layerFs.push(await image.openFileSystem({ layer: i }));
    return v;
  }

  /** Number of layers. */
  get layerCount(): number {
    return this.layerFs.length;
  }

  /** Layer `i` alone, as stored (whiteouts are entries of it). */
  layer(i: number): FileSystem {
    return this.layerFs[i];
  }

  /** The tree after layer `upTo` (layers 0…upTo merged). */
  upTo(upTo: number): MergedFileSystem {
    let fs = this.cumulative.get(upTo);
    if (!fs) {
      fs = new MergedFileSystem(this.layerFs.slice(0, upTo + 1).map((l) => ({ fs: l })));
      this.cumulative.set(upTo, fs);
    }
    return fs;
  }

  /** The tree a view shows: `merged` is the tree after the top layer. */
  tree(view: ViewName): MergedFileSystem {
    return this.upTo(view === 'merged' ? this.layerFs.length - 1 : view);
  }

  /** The tree before layer `n` (undefined for the bottom layer). */
  below(n: number): MergedFileSystem | undefined {
    return n > 0 ? this.upTo(n - 1) : undefined;
  }

  /** The layer's digest a merged inode comes from (files; empty for a local image file). */
  originDigest(fs: MergedFileSystem, ino: number): { digest: string; layer: number; ino: number } {
    const o = fs.origin(ino);
    return { digest: this.image.layers[o.layer].digest, layer: o.layer, ino: o.ino };
  }

  /** Forgets the merged views (the layers belong to the image, closed with it). */
  async close(): Promise<void> {
    for (const fs of this.cumulative.values()) await fs.close();
    this.cumulative.clear();
  }
}
