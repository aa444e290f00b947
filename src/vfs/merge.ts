/**
 * The merged view of a layered image: an ordered list of layer filesystems (bottom → top)
 * stacked the way a container runtime stacks them.
 *
 * Whiteouts, per layer (see {@link WhiteoutFormat}):
 * - OCI (image-spec `layer.md`): an entry `.wh.NAME` hides NAME in the layers below; an entry
 *   `.wh..wh..opq` in a directory hides everything the layers below have in that directory. A
 *   whiteout only hides what is below its own layer. Whiteout entries are never shown.
 * - overlayfs: a character device 0/0 hides the name below (and is never shown); a directory
 *   with xattr `trusted.overlay.opaque` or `user.overlay.opaque` = `y` hides the directories below.
 *
 * Lookups go top-down and stop at the first layer that has or hides the name: a non-directory
 * hides everything below it, a directory merges with the directories of the same path below it
 * until an opaque one or a non-directory. A directory's layers are found lazily, so working in a
 * directory only the top layer has never reads the layers below; a directory's metadata is the
 * topmost layer's (or, when a layer says its directory is only implied by deeper paths — a tar
 * that names `a/b` without `a/` — the next layer's that has a real entry).
 *
 * A hardlink whose target its layer does not have (docker and containerd apply a layer against
 * the tree below it, so a link to a lower layer's file is valid) is resolved against the merged
 * view of the layers below it: the name shows that file, with its inode number.
 *
 * Merged inode numbers are `layerIno * layers + layer + 1`: stable for the life of the object,
 * unique across layers, shared by hardlinks within a layer, and computed without a table (only
 * directories seen so far are remembered, to know their lower layers).
 *
 * @packageDocumentation
 */
import { InvalidOptionError, NotFoundError, throwIfAborted } from '../errors.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { NotADirectoryError } from './errors.js';
import { InodeRangeError } from './tool-errors.js';
import type { DirEntry, FileSystem, FsStats, Inode } from './types.js';

/** Which whiteout conventions a layer uses. */
export type WhiteoutFormat = 'oci' | 'overlay' | 'both';

/** The whiteout format layers get when they name none: both conventions, as docker's overlay2 would. */
export const DEFAULT_WHITEOUT_FORMAT: WhiteoutFormat = 'both';

/** The prefix of an OCI whiteout entry. */
export const WHITEOUT_PREFIX = '.wh.';
/** The name of an OCI opaque-directory marker. */
export const OPAQUE_MARKER = '.wh..wh..opq';
/** The xattrs that make a directory opaque in overlayfs (value `y`). */
export const OVERLAY_OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque'] as const;

/** One layer of a merged view. */
export interface MergeLayer {
  fs: FileSystem;
  /** Whiteout conventions of this layer (default: the view's `whiteouts`). */
  whiteouts?: WhiteoutFormat;
  /**
   * True for a directory that has no entry of its own in the layer, only implied by deeper
   * paths (a tar that lists `a/b` but not `a/`): its metadata then comes from the layer below,
   * as `umoci unpack` keeps the existing directory's attributes.
   */
  impliedDir?(ino: number): boolean;
  /**
   * The merged-tree path a hardlink of this layer names when its target is in a lower layer (see
   * {@link LowerLinks}).
   */
  lowerLink?(ino: number): string | undefined;
}

/**
 * A layer filesystem with hardlinks to files of lower layers (a tar layer whose link target is
 * not in the layer): `lowerLink` gives the target path (no leading `/`) of such an inode.
 */
export interface LowerLinks {
  lowerLink(ino: number): string | undefined;
}

/**
 * A layer filesystem that knows which of its directories have no entry of their own (a tar
 * layer's synthesised parents). The merge uses the method when the layer has it and its
 * {@link MergeLayer} names no `impliedDir`.
 */
export interface ImpliedDirs {
  impliedDir(ino: number): boolean;
}

/** Options of {@link MergedFileSystem}. */
export interface MergedFileSystemOptions {
  /** Whiteout format of layers that name none (default {@link DEFAULT_WHITEOUT_FORMAT}). */
  whiteouts?: WhiteoutFormat;
  /** Hide `trusted.overlay.*` / `user.overlay.*` xattrs, as overlayfs does (default true). */
  hideOverlayXattrs?: boolean;
}

interface Layer {
  fs: FileSystem;
  oci: boolean;
  overlay: boolean;
  impliedDir?: (ino: number) => boolean;
  lowerLink?: (ino: number) => string | undefined;
  /** The layer as given, for the views of the layers below one. */
  spec: MergeLayer;
}

/** One layer's directory in a merged directory; `parentIndex` is where it was found in the parent. */
interface LayerDir {
  layer: number;
  ino: number;
  parentIndex: number;
}

interface MergedDir {
  ino: number;
  parent: MergedDir | undefined;
  name: string;
  /** The layers' directories found so far, top first. */
  layers: LayerDir[];
  /** True when no layer below the last one contributes. */
  done: boolean;
}

/** Result of looking a name up in one layer's directory. */
type LayerHit = Inode | 'whiteout' | 'none';

const OVERLAY_XATTR = /^(trusted|user)\.overlay\./;

/** A read-only filesystem that is the union of layer filesystems with whiteouts applied. */
export class MergedFileSystem implements FileSystem {
  readonly rootIno: number;
  private readonly layers: Layer[];
  private readonly hideOverlayXattrs: boolean;
  private readonly dirs = new Map<number, MergedDir>();
  private readonly root: MergedDir;
  private readonly options: MergedFileSystemOptions;
  /** Views of the layers below layer `n` (keyed by n), for hardlinks to lower layers' files. */
  private readonly below = new Map<number, MergedFileSystem>();

  /** `layers` bottom first (the image manifest's order). The layers are not closed by {@link close}. */
  constructor(layers: readonly (FileSystem | MergeLayer)[], options: MergedFileSystemOptions = {}) {
    const dflt = options.whiteouts ?? DEFAULT_WHITEOUT_FORMAT;
    if (!['oci', 'overlay', 'both'].includes(dflt))
      throw new InvalidOptionError('whiteouts', 'must be oci, overlay or both');
    if (layers.length === 0) throw new InvalidOptionError('layers', 'at least one layer is needed');
    this.layers = layers.map((l, i) => {
      const ml: MergeLayer = 'fs' in l ? l : { fs: l };
      const w = ml.whiteouts ?? dflt;
      if (!['oci', 'overlay', 'both'].includes(w))
        throw new InvalidOptionError(`layers[${i}].whiteouts`, 'must be oci, overlay or both');
      const own = (ml.fs as Partial<ImpliedDirs>).impliedDir;
      const implied = ml.impliedDir?.bind(ml) ?? (typeof own === 'function' ? own.bind(ml.fs) : undefined);
      const ownLink = (ml.fs as Partial<LowerLinks>).lowerLink;
      const lowerLink = ml.lowerLink?.bind(ml) ?? (typeof ownLink === 'function' ? ownLink.bind(ml.fs) : undefined);
      return {
        fs: ml.fs,
        oci: w !== 'overlay',
        overlay: w !== 'oci',
        impliedDir: implied,
        lowerLink,
        spec: { ...ml, whiteouts: w },
      };
    });
    this.options = options;
    this.hideOverlayXattrs = options.hideOverlayXattrs ?? true;
    const top = this.layers.length - 1;
    this.rootIno = this.encode(top, this.layers[top].fs.rootIno);
    this.root = {
      ino: this.rootIno,
      parent: undefined,
      name: '',
      layers: [{ layer: top, ino: this.layers[top].fs.rootIno, parentIndex: -1 }],
      done: top === 0,
    };
    this.dirs.set(this.rootIno, this.root);
  }

  /** Number of layers. */
  get layerCount(): number {
    return this.layers.length;
  }

  /** The layer (0 = bottom) and the layer's inode number a merged inode number stands for. */
  origin(ino: number): { layer: number; ino: number } {
    const n = this.layers.length;
    if (!Number.isSafeInteger(ino) || ino < 1) throw new NotFoundError(`inode ${ino}`, { data: { ino } });
    return { layer: (ino - 1) % n, ino: Math.floor((ino - 1) / n) };
  }

  async getattr(ino: number, options: ReadOptions = {}): Promise<Inode> {
    const d = this.dirs.get(ino);
    if (d) return this.dirAttrs(d, options);
    const o = this.origin(ino);
    return this.wrap(o.layer, await this.layers[o.layer].fs.getattr(o.ino, options));
  }

  /** The details of the layer inode that a merged inode shows (a directory: its topmost layer's), and which layer. */
  async inodeDetails(ino: number, options: ReadOptions = {}): Promise<Record<string, unknown>> {
    const d = this.dirs.get(ino);
    const o = d && d.layers.length ? { layer: d.layers[0].layer, ino: d.layers[0].ino } : this.origin(ino);
    const fs = this.layers[o.layer].fs;
    return { layer: o.layer, ...(fs.inodeDetails ? await fs.inodeDetails(o.ino, options) : {}) };
  }

  /**
   * Every layer directory a merged directory is made of, top first (finding them reads the
   * lower layers' directories on the path). Two directories made of the same layer directories
   * hold the same tree: what a diff of two images uses to skip a shared subtree.
   */
  async dirLayers(dirIno: number, options: ReadOptions = {}): Promise<{ layer: number; ino: number }[]> {
    const d = await this.dir(dirIno, options);
    while (await this.extend(d, options));
    return d.layers.map((l) => ({ layer: l.layer, ino: l.ino }));
  }

  async lookup(dirIno: number, name: string, options: ReadOptions = {}): Promise<Inode | undefined> {
    const d = await this.dir(dirIno, options);
    for (let i = 0; ; i++) {
      throwIfAborted(options.signal);
      if (i >= d.layers.length && !(await this.extend(d, options))) return undefined;
      const ld = d.layers[i];
      const hit = await this.lookupInLayer(ld, name, options);
      if (hit === 'whiteout') return undefined;
      if (hit === 'none') continue;
      if (hit.type === 'dir') return this.dirAttrs(this.register(d, name, ld.layer, hit.ino, i), options, hit);
      return (await this.lowerLinkTarget(ld.layer, hit.ino, options)) ?? this.wrap(ld.layer, hit);
    }
  }

  async *readdir(dirIno: number, options: ReadOptions = {}): AsyncIterable<DirEntry> {
    const d = await this.dir(dirIno, options);
    // Names this listing has shown or hidden, from the layers above the one being read.
    const blocked = new Set<string>();
    for (let i = 0; ; i++) {
      if (i >= d.layers.length && !(await this.extend(d, options))) return;
      const ld = d.layers[i];
      const layer = this.layers[ld.layer];
      // Whether a lower layer follows decides if this layer's names must be remembered.
      const more = i + 1 < d.layers.length || (await this.extend(d, options));
      const added: string[] = [];
      for await (const e of layer.fs.readdir(ld.ino, options)) {
        if (layer.oci && e.name.startsWith(WHITEOUT_PREFIX)) {
          if (more && e.name !== OPAQUE_MARKER) added.push(e.name.slice(WHITEOUT_PREFIX.length));
          continue;
        }
        if (layer.overlay && e.type === 'chardev' && (await layer.fs.getattr(e.ino, options)).rdev === 0) {
          if (more) added.push(e.name);
          continue;
        }
        if (blocked.has(e.name)) continue;
        if (more) added.push(e.name);
        if (e.type === 'dir') {
          yield { name: e.name, ino: this.register(d, e.name, ld.layer, e.ino, i).ino, type: 'dir' };
        } else {
          const linked = await this.lowerLinkTarget(ld.layer, e.ino, options);
          yield { name: e.name, ino: linked?.ino ?? this.encode(ld.layer, e.ino), type: linked?.type ?? e.type };
        }
      }
      if (!more) return;
      for (const n of added) blocked.add(n);
    }
  }

  async readlink(ino: number, options: ReadOptions = {}): Promise<string> {
    const o = this.origin(ino);
    return this.layers[o.layer].fs.readlink(o.ino, options);
  }

  async openFile(ino: number, options: ReadOptions = {}): Promise<ByteSource> {
    const o = this.origin(ino);
    return this.layers[o.layer].fs.openFile(o.ino, options);
  }

  async listxattr(ino: number, options: ReadOptions = {}): Promise<Map<string, Uint8Array>> {
    const d = this.dirs.get(ino);
    const o = d ? await this.metaLayerDir(d, options) : this.origin(ino);
    const xs = await this.layers[o.layer].fs.listxattr(o.ino, options);
    if (!this.hideOverlayXattrs) return xs;
    for (const k of [...xs.keys()]) if (OVERLAY_XATTR.test(k)) xs.delete(k);
    return xs;
  }

  statfs(): FsStats {
    const all = this.layers.map((l) => l.fs.statfs());
    return {
      blockSize: all[all.length - 1].blockSize,
      blocks: all.reduce((s, x) => s + x.blocks, 0),
      files: all.reduce((s, x) => s + x.files, 0),
      nameMax: Math.min(...all.map((x) => x.nameMax)),
    };
  }

  /** Forgets the directories it has seen; the layers stay open (they belong to the caller). */
  async close(): Promise<void> {
    this.below.clear();
    this.dirs.clear();
    this.dirs.set(this.rootIno, this.root);
  }

  private encode(layer: number, ino: number): number {
    const n = this.layers.length;
    const merged = ino * n + layer + 1;
    if (!Number.isSafeInteger(ino) || ino < 0 || !Number.isSafeInteger(merged)) throw new InodeRangeError(layer, ino);
    return merged;
  }

  private wrap(layer: number, inode: Inode): Inode {
    return { ...inode, ino: this.encode(layer, inode.ino) };
  }

  /**
   * For a hardlink of layer `layer` to a lower layer's file: that file, as the merged view of the
   * layers below shows it (numbered in this view). Undefined when the inode is no such link, or
   * when nothing below has a non-directory at the path (then the link shows as itself, and
   * reading it says why).
   */
  private async lowerLinkTarget(layer: number, ino: number, options: ReadOptions): Promise<Inode | undefined> {
    const target = this.layers[layer].lowerLink?.(ino);
    if (target === undefined || layer === 0) return undefined;
    let view = this.below.get(layer);
    if (!view) {
      view = new MergedFileSystem(
        this.layers.slice(0, layer).map((l) => l.spec),
        this.options,
      );
      this.below.set(layer, view);
    }
    let cur: Inode | undefined = await view.getattr(view.rootIno, options);
    for (const name of target.split('/')) {
      if (cur?.type !== 'dir') return undefined;
      cur = await view.lookup(cur.ino, name, options);
    }
    if (!cur || cur.type === 'dir') return undefined;
    // Layers below `layer` keep their indexes in the smaller view: only the numbering differs.
    const o = view.origin(cur.ino);
    return { ...cur, ino: this.encode(o.layer, o.ino) };
  }

  /** The merged directory with this number, or the reason it is none. */
  private async dir(ino: number, options: ReadOptions): Promise<MergedDir> {
    const d = this.dirs.get(ino);
    if (d) return d;
    const o = this.origin(ino);
    const st = await this.layers[o.layer]?.fs.getattr(o.ino, options);
    if (st && st.type !== 'dir') throw new NotADirectoryError(`inode ${ino}`);
    throw new NotFoundError(`directory inode ${ino} (not seen through this merged view)`, { data: { ino } });
  }

  /** Remembers a directory found in layer `layer` of its parent's `parentIndex`-th layer directory. */
  private register(parent: MergedDir, name: string, layer: number, ino: number, parentIndex: number): MergedDir {
    const merged = this.encode(layer, ino);
    let d = this.dirs.get(merged);
    if (!d) {
      d = { ino: merged, parent, name, layers: [{ layer, ino, parentIndex }], done: layer === 0 };
      this.dirs.set(merged, d);
    }
    return d;
  }

  /** The layer directory whose metadata the merged directory shows (topmost not merely implied). */
  private async metaLayerDir(d: MergedDir, options: ReadOptions): Promise<LayerDir> {
    for (let i = 0; ; i++) {
      if (i >= d.layers.length && !(await this.extend(d, options))) return d.layers[0];
      const ld = d.layers[i];
      const implied = this.layers[ld.layer].impliedDir;
      if (!implied || !implied(ld.ino)) return ld;
    }
  }

  private async dirAttrs(d: MergedDir, options: ReadOptions, topInode?: Inode): Promise<Inode> {
    const ld = await this.metaLayerDir(d, options);
    const st = topInode && ld === d.layers[0] ? topInode : await this.layers[ld.layer].fs.getattr(ld.ino, options);
    return { ...st, ino: d.ino };
  }

  /** Looks `name` up in one layer's directory, applying that layer's whiteouts. */
  private async lookupInLayer(ld: LayerDir, name: string, options: ReadOptions): Promise<LayerHit> {
    const layer = this.layers[ld.layer];
    if (layer.oci && name.startsWith(WHITEOUT_PREFIX)) return 'none';
    const found = await layer.fs.lookup(ld.ino, name, options);
    if (found) {
      if (layer.overlay && found.type === 'chardev' && found.rdev === 0) return 'whiteout';
      return found;
    }
    // A whiteout can only hide something below its layer: none is looked for in the bottom one.
    if (ld.layer > 0 && layer.oci && (await layer.fs.lookup(ld.ino, WHITEOUT_PREFIX + name, options)))
      return 'whiteout';
    return 'none';
  }

  /** True when the layer directory hides the directories below it. */
  private async isOpaque(d: MergedDir, ld: LayerDir, options: ReadOptions): Promise<boolean> {
    const layer = this.layers[ld.layer];
    if (layer.overlay) {
      const xs = await layer.fs.listxattr(ld.ino, options);
      for (const k of OVERLAY_OPAQUE_XATTRS) {
        const v = xs.get(k);
        if (v && v.length === 1 && v[0] === 0x79 /* 'y' */) return true;
      }
    }
    if (layer.oci) {
      if (await layer.fs.lookup(ld.ino, OPAQUE_MARKER, options)) return true;
      // `.wh.NAME` beside a directory NAME of the same layer: the directory was deleted and made
      // anew in this layer, so nothing below belongs to it (umoci removes the old one first).
      if (d.parent && (await layer.fs.lookup(d.parent.layers[ld.parentIndex].ino, WHITEOUT_PREFIX + d.name, options)))
        return true;
    }
    return false;
  }

  /** Finds the next layer directory below the ones known; false when there is none. */
  private async extend(d: MergedDir, options: ReadOptions): Promise<boolean> {
    if (d.done) return false;
    const last = d.layers[d.layers.length - 1];
    if (await this.isOpaque(d, last, options)) {
      d.done = true;
      return false;
    }
    if (!d.parent) {
      const layer = last.layer - 1;
      d.layers.push({ layer, ino: this.layers[layer].fs.rootIno, parentIndex: -1 });
      d.done = layer === 0;
      return true;
    }
    const p = d.parent;
    for (let i = last.parentIndex + 1; ; i++) {
      throwIfAborted(options.signal);
      if (i >= p.layers.length && !(await this.extend(p, options))) break;
      const pd = p.layers[i];
      const hit = await this.lookupInLayer(pd, d.name, options);
      if (hit === 'none') continue;
      if (hit === 'whiteout' || hit.type !== 'dir') break;
      d.layers.push({ layer: pd.layer, ino: hit.ino, parentIndex: i });
      d.done = pd.layer === 0;
      return true;
    }
    d.done = true;
    return false;
  }
}
