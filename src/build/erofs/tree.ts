/**
 * The tree an EROFS image is built from, held in memory while file contents stream to the image
 * file: one node per inode (hardlinks share a node), directories with their children by name.
 *
 * Two ways to fill it:
 * - {@link LayerTree}: one layer as it is, OCI whiteouts turned into overlayfs ones (an empty
 *   `.wh.NAME` becomes a character device 0/0 named NAME, `.wh..wh..opq` becomes
 *   `trusted.overlay.opaque=y` on its directory), as `mkfs.erofs --aufs` and containerd's EROFS
 *   differ write layers; tar rules within the layer (a later member replaces an earlier one, a
 *   directory member over a directory only updates its metadata, missing parents are made).
 * - {@link FlattenTree}: the layers of an image merged, fed top layer first. A name a higher
 *   layer has (or whites out) decides that path for every layer below, so a lower layer's
 *   hidden files are never written — each layer is still read once, in order, and nothing is
 *   written twice. Both whiteout conventions are honoured in every layer.
 *
 * @packageDocumentation
 */
import type { FileType } from '../../vfs/types.js';
import { isOverlayWhiteout, splitPath, type BuildEntry } from '../entry.js';
import { UnconvertibleEntryError } from '../errors.js';
import type { FileData } from './file-data.js';

/** The opaque-directory xattr overlayfs reads. */
export const OVERLAY_OPAQUE = 'trusted.overlay.opaque';
const OPAQUE_MARKER = '.wh..wh..opq';
const WHITEOUT_PREFIX = '.wh.';
/** Mode of a directory the source implies but does not list (as umoci and the tar reader make them). */
const IMPLIED_DIR_MODE = 0o755;

/** One inode of the tree. */
export interface TreeNode {
  type: FileType;
  /** Permission bits (`& 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  mtimeSec: number;
  mtimeNsec: number;
  rdev: number;
  xattrs?: Map<string, Uint8Array>;
  /** Symlink target bytes. */
  target?: Uint8Array;
  /** Where a regular file's content is (set by the writer once written). */
  data?: FileData;
  /** Size of a regular file. */
  size: number;
  children?: Map<string, TreeNode>;
  /** A directory no entry named (only deeper paths implied it). */
  implied?: boolean;
  /** The layer that put the node here (flatten). */
  layer: number;
  /** Flatten: layers below this index contribute nothing under this directory. */
  opaqueBelow?: number;
  /** Flatten: a name hidden from the layers below; never written. */
  whiteout?: boolean;
}

const utf8 = new TextEncoder();

function nodeOf(e: BuildEntry, layer: number): TreeNode {
  const type = e.type === 'hardlink' ? 'file' : e.type;
  const n: TreeNode = {
    type,
    mode: e.mode & 0o7777,
    uid: e.uid,
    gid: e.gid,
    mtimeSec: e.mtimeSec,
    mtimeNsec: e.mtimeNsec,
    rdev: e.rdev,
    size: type === 'file' ? e.size : 0,
    layer,
  };
  if (e.xattrs && e.xattrs.size > 0) n.xattrs = new Map(e.xattrs);
  if (type === 'symlink') n.target = utf8.encode(e.linkName ?? '');
  if (type === 'dir') n.children = new Map();
  return n;
}

function impliedDir(layer: number): TreeNode {
  return {
    type: 'dir',
    mode: IMPLIED_DIR_MODE,
    uid: 0,
    gid: 0,
    mtimeSec: 0,
    mtimeNsec: 0,
    rdev: 0,
    size: 0,
    layer,
    children: new Map(),
    implied: true,
  };
}

const OVERLAY_XATTR = /^(trusted|user)\.overlay\./;

function stripOverlayXattrs(n: TreeNode): void {
  if (!n.xattrs) return;
  for (const k of [...n.xattrs.keys()]) if (OVERLAY_XATTR.test(k)) n.xattrs.delete(k);
  if (n.xattrs.size === 0) delete n.xattrs;
}

/** Copies an entry's metadata onto an existing directory node. */
function updateDir(dir: TreeNode, e: BuildEntry): void {
  dir.mode = e.mode & 0o7777;
  dir.uid = e.uid;
  dir.gid = e.gid;
  dir.mtimeSec = e.mtimeSec;
  dir.mtimeNsec = e.mtimeNsec;
  if (e.xattrs && e.xattrs.size > 0) dir.xattrs = new Map(e.xattrs);
  else delete dir.xattrs;
  dir.implied = false;
}

/** What adding an entry did. */
export type AddResult =
  /** A new regular-file node that needs its content written. */
  | { kind: 'file'; node: TreeNode }
  /** Added (or applied) with nothing to write. */
  | { kind: 'done' }
  /** Hidden by a higher layer (flatten): its content is not needed. */
  | { kind: 'hidden' }
  /**
   * A hardlink whose target a higher layer hid (flatten): add the linked file again as a
   * regular file ({@link FlattenTree.addResolved}).
   */
  | { kind: 'resolve' };

/** The common part: the root and path walking. */
abstract class BaseTree {
  readonly root: TreeNode = impliedDir(Number.MAX_SAFE_INTEGER);

  /** Adds an entry; see {@link AddResult}. */
  abstract add(e: BuildEntry, layer: number): AddResult;

  /** The nodes of hardlink targets of the current layer, by path. */
  protected readonly layerFiles = new Map<string, TreeNode | 'hidden'>();

  /** Forgets per-layer state (call between layers). */
  endLayer(): void {
    this.layerFiles.clear();
  }

  protected linkTarget(e: BuildEntry): TreeNode | 'hidden' {
    const t = this.layerFiles.get(e.linkName ?? '');
    if (t === undefined)
      throw new UnconvertibleEntryError(
        e.path,
        `hardlink to ${JSON.stringify(e.linkName)}, which the layer does not hold before it`,
      );
    return t;
  }
}

/** One layer, whiteouts made overlayfs ones; see the module comment. */
export class LayerTree extends BaseTree {
  constructor() {
    super();
    this.root.layer = 0;
  }

  /** The directory `path`, made (and non-directories in the way replaced) as needed. */
  private dir(path: string): TreeNode {
    let d = this.root;
    if (path === '') return d;
    for (const name of path.split('/')) {
      let c = d.children!.get(name);
      if (!c || c.type !== 'dir') {
        c = impliedDir(0);
        d.children!.set(name, c);
      }
      d = c;
    }
    return d;
  }

  add(e: BuildEntry): AddResult {
    if (e.path === '') {
      if (e.type !== 'dir') throw new UnconvertibleEntryError(e.path, `the root is a ${e.type}, not a directory`);
      updateDir(this.root, e);
      return { kind: 'done' };
    }
    const { parent, name } = splitPath(e.path);
    const d = this.dir(parent);
    if (name === OPAQUE_MARKER) {
      (d.xattrs ??= new Map()).set(OVERLAY_OPAQUE, utf8.encode('y'));
      return { kind: 'done' };
    }
    if (name.startsWith(WHITEOUT_PREFIX)) {
      const wo: TreeNode = {
        type: 'chardev',
        mode: 0,
        uid: e.uid,
        gid: e.gid,
        mtimeSec: e.mtimeSec,
        mtimeNsec: e.mtimeNsec,
        rdev: 0,
        size: 0,
        layer: 0,
      };
      d.children!.set(name.slice(WHITEOUT_PREFIX.length), wo);
      return { kind: 'done' };
    }
    const old = d.children!.get(name);
    if (e.type === 'dir' && old?.type === 'dir') {
      const opaque = old.xattrs?.get(OVERLAY_OPAQUE);
      updateDir(old, e);
      if (opaque && !old.xattrs?.has(OVERLAY_OPAQUE)) (old.xattrs ??= new Map()).set(OVERLAY_OPAQUE, opaque);
      return { kind: 'done' };
    }
    if (e.type === 'hardlink') {
      const t = this.linkTarget(e);
      if (t === 'hidden') throw new UnconvertibleEntryError(e.path, 'hardlink to a hidden entry');
      d.children!.set(name, t);
      this.layerFiles.set(e.path, t);
      return { kind: 'done' };
    }
    const n = nodeOf(e, 0);
    d.children!.set(name, n);
    if (n.type !== 'dir') this.layerFiles.set(e.path, n);
    return n.type === 'file' && n.size > 0 ? { kind: 'file', node: n } : { kind: 'done' };
  }
}

/** Layers merged top-down; see the module comment. */
export class FlattenTree extends BaseTree {
  /**
   * The directory `path` as layer `layer` sees it, or undefined when a higher layer hides it.
   * Missing directories are made (implied); a same-layer non-directory in the way is replaced.
   */
  private dir(path: string, layer: number): TreeNode | undefined {
    let d = this.root;
    if (path === '') return d;
    for (const name of path.split('/')) {
      if (d.opaqueBelow !== undefined && layer < d.opaqueBelow) return undefined;
      let c = d.children!.get(name);
      if (c && c.layer > layer && (c.whiteout || c.type !== 'dir')) return undefined;
      if (!c || c.type !== 'dir') {
        const wasWhiteout = c?.whiteout === true;
        c = impliedDir(layer);
        // This layer whites the name out and has entries under it: the layers below stay hidden.
        if (wasWhiteout) c.opaqueBelow = layer;
        d.children!.set(name, c);
      }
      d = c;
    }
    if (d.opaqueBelow !== undefined && layer < d.opaqueBelow) return undefined;
    return d;
  }

  add(e: BuildEntry, layer: number): AddResult {
    if (e.path === '') {
      if (e.type !== 'dir') throw new UnconvertibleEntryError(e.path, `the root is a ${e.type}, not a directory`);
      // The root's metadata comes from the topmost layer that lists it.
      if (this.root.implied || this.root.layer === layer) {
        updateDir(this.root, e);
        this.root.layer = layer;
      }
      this.noteOpaque(this.root, e, layer);
      return { kind: 'done' };
    }
    const { parent, name } = splitPath(e.path);
    const d = this.dir(parent, layer);
    if (!d) return this.hide(e);
    if (name === OPAQUE_MARKER) {
      d.opaqueBelow = Math.max(d.opaqueBelow ?? -1, layer);
      return { kind: 'done' };
    }
    const old = d.children!.get(name);
    const whiteout = name.startsWith(WHITEOUT_PREFIX)
      ? name.slice(WHITEOUT_PREFIX.length)
      : isOverlayWhiteout(e)
        ? name
        : undefined;
    if (whiteout !== undefined) {
      const o = d.children!.get(whiteout);
      if (!o) d.children!.set(whiteout, { ...impliedDir(layer), type: 'chardev', whiteout: true, children: undefined });
      else if (o.type === 'dir' && o.layer >= layer) o.opaqueBelow = Math.max(o.opaqueBelow ?? -1, layer);
      return { kind: 'done' };
    }
    if (old && old.layer > layer) {
      // A higher layer decided this name: only its implied directory takes this one's metadata.
      if (old.type === 'dir' && e.type === 'dir' && !old.whiteout) {
        if (old.implied) updateDir(old, e);
        this.noteOpaque(old, e, layer);
        return { kind: 'done' };
      }
      return this.hide(e);
    }
    if (old?.whiteout) {
      // The same layer whites out a name and has it: the entry stays, the layers below stay hidden.
      d.children!.delete(name);
    } else if (old && old.type === 'dir' && e.type === 'dir') {
      updateDir(old, e);
      this.noteOpaque(old, e, layer);
      return { kind: 'done' };
    }
    if (e.type === 'hardlink') {
      const t = this.linkTarget(e);
      if (t === 'hidden') return { kind: 'resolve' };
      d.children!.set(name, t);
      this.layerFiles.set(e.path, t);
      return { kind: 'done' };
    }
    const n = nodeOf(e, layer);
    if (old?.whiteout && n.type === 'dir') n.opaqueBelow = layer;
    stripOverlayXattrs(n);
    d.children!.set(name, n);
    if (n.type === 'dir') this.noteOpaque(n, e, layer);
    else this.layerFiles.set(e.path, n);
    return n.type === 'file' && n.size > 0 ? { kind: 'file', node: n } : { kind: 'done' };
  }

  /**
   * Adds `file` (the regular-file form of the hardlink `link`, whose target was hidden) and
   * makes it the target of the layer's later links to the same file.
   */
  addResolved(link: BuildEntry, file: BuildEntry, layer: number): AddResult {
    const r = this.add({ ...file, path: link.path }, layer);
    if (r.kind === 'file') this.layerFiles.set(link.linkName!, r.node);
    return r;
  }

  /**
   * An overlayfs opaque directory hides the layers below it. Overlay xattrs are not kept: the
   * merged tree has no layers below (and overlayfs hides them from a merged view too).
   */
  private noteOpaque(dir: TreeNode, e: BuildEntry, layer: number): void {
    if (e.xattrs?.get(OVERLAY_OPAQUE)?.[0] === 0x79) dir.opaqueBelow = Math.max(dir.opaqueBelow ?? -1, layer);
    stripOverlayXattrs(dir);
  }

  private hide(e: BuildEntry): AddResult {
    if (e.type !== 'dir') this.layerFiles.set(e.path, 'hidden');
    return { kind: 'hidden' };
  }
}
