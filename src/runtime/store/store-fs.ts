/**
 * The additional layer store's namespace as one read-only {@link FileSystem}, served over raw
 * FUSE at the store's root:
 *
 * ```
 * ROOT/                                   lists the references with layers in use
 *   <base64(ref)>/                        lists the layers in use
 *     <digest>/                           compressed digest, or TOC digest (storage 1.54+)
 *       diff/                             the layer's tree, overlayfs whiteouts, read lazily
 *                                         (an EROFS layer: a symlink to its kernel mount)
 *       info                              storage's layer record (JSON)
 *       blob                              the layer blob, read lazily (podman save / push)
 *       use                               never exists: creating it counts a use (ENOENT)
 * ```
 *
 * Directories appear when they are looked up; the image is resolved when `diff`, `info` or
 * `blob` is. `rmdir ROOT/<ref>/<digest>` takes a use back (and answers ENOENT, as
 * containers/storage expects of a store that counts); at zero the layer is released: its tree
 * and blob are closed and it leaves the listings (its bytes stay in the blob cache).
 *
 * Inode numbers: synthetic entries and layer trees share one space. A tree inode gets a number
 * of the store's own when it is first seen (layer formats number theirs freely, EROFS up to
 * 2^49); numbers are never reused, so the server's and the kernel's caches never mix up two
 * files. The synthetic entries and every tree's root are volatile (never cached), so a path to
 * a released layer is looked up afresh.
 *
 * @packageDocumentation
 */
import { constants } from 'node:os';
import { debuglog } from '../../io/debug-log.js';
import type { ByteSource, ReadOptions } from '../../io/byte-source.js';
import { MemorySource } from '../../io/memory-source.js';
import type { RawTreeHooks } from '../../mount/raw/raw-tree-server.js';
import { FuseErrno } from '../../mount/errno.js';
import type { DirEntry, FileSystem, FsStats, Inode } from '../../vfs/types.js';
import { TYPE_BITS } from '../../vfs/types.js';
import type { KernelLayers } from './kernel-layers.js';
import type { StoreImages, StoreLayer } from './store-images.js';
import { parseReference } from '../../ref/index.js';
import { BLOB_NAME, decodeRef, DIFF_NAME, INFO_NAME, isLayerName, USE_NAME } from './store-paths.js';

const debug = debuglog('ocifs:store');
const E = constants.errno;

/** Directories looked up but holding no layer that are remembered (older ones are forgotten). */
export const MAX_IDLE_DIRS = 4096;

/** One `<ref>/<digest>` directory. */
interface LayerDir {
  key: string;
  /** The reference's directory name (its base64) and the reference. */
  encoded: string;
  ref: string;
  name: string;
  dirIno: number;
  infoIno: number;
  blobIno: number;
  /** Uses counted by `use` creates minus rmdirs (never below zero). */
  uses: number;
  resolving?: Promise<StoreLayer>;
  layer?: StoreLayer;
  /** An EROFS layer mounted by the kernel: `diff` is a symlink to the mount. */
  kernel?: Promise<{ ino: number; target: string } | undefined>;
  linkIno?: number;
  /** The log has said how the layer is served. */
  announced?: boolean;
  /** Tree inode numbers: the layer's own → the store's. */
  inos: Map<number, number>;
}

type Node =
  | { kind: 'root' }
  | { kind: 'ref'; encoded: string; ref: string }
  | { kind: 'layer' | 'info' | 'blob'; dir: LayerDir }
  | { kind: 'link'; dir: LayerDir; target: string }
  | { kind: 'tree'; dir: LayerDir; local: number };

/** What the store reports as it works (one line each; the CLI prints them). */
export type StoreLog = (line: string) => void;

/** Options of {@link StoreFs}. */
export interface StoreFsOptions {
  /** Event lines: layers served, released, failures. */
  log?: StoreLog;
  /** Mount EROFS layers with the kernel's EROFS driver (else their trees are served like tar layers'). */
  kernel?: KernelLayers;
}

const ROOT_INO = 1;

/** The store's namespace; see the module note. */
export class StoreFs implements FileSystem {
  readonly rootIno = ROOT_INO;
  private readonly nodes = new Map<number, Node>([[ROOT_INO, { kind: 'root' }]]);
  private readonly refDirs = new Map<string, number>();
  private readonly layerDirs = new Map<string, LayerDir>();
  private nextIno = ROOT_INO + 1;
  private readonly started = Math.floor(Date.now() / 1000);
  private readonly log: StoreLog;
  private readonly kernel: KernelLayers | undefined;

  constructor(
    private readonly images: StoreImages,
    options: StoreFsOptions = {},
  ) {
    this.log = options.log ?? ((line) => debug('%s', line));
    this.kernel = options.kernel;
  }

  /** The hooks the raw FUSE server needs for this tree. */
  hooks(): RawTreeHooks {
    return {
      isVolatile: (ino) => {
        const n = this.nodes.get(ino);
        return !n || n.kind !== 'tree' || n.dir.layer?.tree.rootIno === n.local;
      },
      create: (dirIno, name) => this.create(dirIno, name),
      rmdir: (dirIno, name) => this.rmdir(dirIno, name),
    };
  }

  /** The layers resolved now, with their use counts. */
  inUse(): { ref: string; digest: string; uses: number }[] {
    return [...this.layerDirs.values()]
      .filter((d) => d.layer)
      .map((d) => ({ ref: d.layer!.ref, digest: d.name, uses: d.uses }));
  }

  // ---- FileSystem ----

  async getattr(ino: number, options?: ReadOptions): Promise<Inode> {
    const n = this.node(ino);
    switch (n.kind) {
      case 'root':
        return this.synthetic(ino, 'dir', 0o700, 0);
      case 'ref':
      case 'layer':
        return this.synthetic(ino, 'dir', 0o500, 0);
      case 'info':
        return this.synthetic(ino, 'file', 0o400, (await this.resolve(n.dir)).info.length);
      case 'blob':
        return this.synthetic(ino, 'file', 0o400, (await this.resolve(n.dir)).layer.size);
      case 'link':
        return this.synthetic(ino, 'symlink', 0o777, Buffer.byteLength(n.target));
      case 'tree': {
        const tree = this.treeOf(n.dir);
        return this.fromTree(n.dir, await tree.getattr(n.local, options));
      }
    }
  }

  async lookup(dirIno: number, name: string, options?: ReadOptions): Promise<Inode | undefined> {
    const n = this.node(dirIno);
    switch (n.kind) {
      case 'root': {
        const ref = decodeRef(name);
        if (ref === undefined || !isReference(ref)) return undefined;
        return this.getattr(this.refDir(name, ref));
      }
      case 'ref':
        return isLayerName(name) ? this.getattr(this.layerDir(n, name).dirIno) : undefined;
      case 'layer':
        return this.lookupInLayerDir(n.dir, name, options);
      case 'tree': {
        const found = await this.treeOf(n.dir).lookup(n.local, name, options);
        return found && this.fromTree(n.dir, found);
      }
      default:
        throw new FuseErrno(E.ENOTDIR);
    }
  }

  async *readdir(dirIno: number, options?: ReadOptions): AsyncIterable<DirEntry> {
    const n = this.node(dirIno);
    if (n.kind === 'root' || n.kind === 'ref') {
      yield* this.listInUse(n.kind === 'root' ? undefined : n.encoded);
      return;
    }
    if (n.kind === 'layer') {
      const layer = await this.resolve(n.dir);
      const link = await n.dir.kernel;
      yield link
        ? { name: DIFF_NAME, ino: link.ino, type: 'symlink' }
        : { name: DIFF_NAME, ino: this.treeIno(n.dir, layer.tree.rootIno), type: 'dir' };
      yield { name: INFO_NAME, ino: n.dir.infoIno, type: 'file' };
      yield { name: BLOB_NAME, ino: n.dir.blobIno, type: 'file' };
      return;
    }
    if (n.kind !== 'tree') throw new FuseErrno(E.ENOTDIR);
    for await (const e of this.treeOf(n.dir).readdir(n.local, options)) yield { ...e, ino: this.treeIno(n.dir, e.ino) };
  }

  async readlink(ino: number, options?: ReadOptions): Promise<string> {
    const n = this.node(ino);
    if (n.kind === 'link') return n.target;
    if (n.kind !== 'tree') throw new FuseErrno(E.EINVAL);
    return this.treeOf(n.dir).readlink(n.local, options);
  }

  async openFile(ino: number, options?: ReadOptions): Promise<ByteSource> {
    const n = this.node(ino);
    if (n.kind === 'info') return new MemorySource((await this.resolve(n.dir)).info);
    if (n.kind === 'blob') return (await this.resolve(n.dir)).blob();
    if (n.kind !== 'tree') throw new FuseErrno(E.EISDIR);
    return this.treeOf(n.dir).openFile(n.local, options);
  }

  async listxattr(ino: number, options?: ReadOptions): Promise<Map<string, Uint8Array>> {
    const n = this.node(ino);
    return n.kind === 'tree' ? this.treeOf(n.dir).listxattr(n.local, options) : new Map();
  }

  statfs(): FsStats {
    return { blockSize: 4096, blocks: 0, files: this.nodes.size, nameMax: 255 };
  }

  /** Releases every layer (the store is stopping). */
  async close(): Promise<void> {
    for (const d of [...this.layerDirs.values()]) await this.release(d);
  }

  // ---- the namespace ----

  private node(ino: number): Node {
    const n = this.nodes.get(ino);
    // A number of a released layer, or of a directory forgotten since: the kernel must look again.
    if (!n) throw new FuseErrno(E.ESTALE);
    return n;
  }

  private newIno(node: Node): number {
    const ino = this.nextIno++;
    this.nodes.set(ino, node);
    return ino;
  }

  private synthetic(ino: number, type: 'dir' | 'file' | 'symlink', perm: number, size: number): Inode {
    return {
      ino,
      type,
      mode: TYPE_BITS[type] | perm,
      uid: 0,
      gid: 0,
      size,
      mtimeSec: this.started,
      mtimeNsec: 0,
      nlink: type === 'dir' ? 2 : 1,
      rdev: 0,
    };
  }

  private refDir(encoded: string, ref: string): number {
    let ino = this.refDirs.get(encoded);
    if (ino === undefined) {
      this.forgetIdle();
      ino = this.newIno({ kind: 'ref', encoded, ref });
      this.refDirs.set(encoded, ino);
    }
    return ino;
  }

  private layerDir(parent: { encoded: string; ref: string }, name: string): LayerDir {
    const key = `${parent.encoded}\n${name}`;
    let d = this.layerDirs.get(key);
    if (!d) {
      this.forgetIdle(parent.encoded);
      d = {
        key,
        encoded: parent.encoded,
        ref: parent.ref,
        name,
        dirIno: 0,
        infoIno: 0,
        blobIno: 0,
        uses: 0,
        inos: new Map(),
      };
      d.dirIno = this.newIno({ kind: 'layer', dir: d });
      d.infoIno = this.newIno({ kind: 'info', dir: d });
      d.blobIno = this.newIno({ kind: 'blob', dir: d });
      this.layerDirs.set(key, d);
    }
    return d;
  }

  /**
   * Bounds what lookups of names nobody uses leave behind: before a new entry is made, the
   * oldest idle entries go (never the reference directory `keep`, in which one is being made).
   */
  private forgetIdle(keep?: string): void {
    if (this.refDirs.size + this.layerDirs.size < 2 * MAX_IDLE_DIRS) return;
    const held = (d: LayerDir) => d.layer !== undefined || d.resolving !== undefined || d.uses > 0;
    const busy = new Set<string>(keep === undefined ? [] : [keep]);
    for (const d of this.layerDirs.values()) if (held(d)) busy.add(d.encoded);
    let excess = this.refDirs.size + this.layerDirs.size - MAX_IDLE_DIRS;
    for (const d of this.layerDirs.values()) {
      if (excess <= 0) break;
      if (held(d)) continue;
      this.dropLayerDir(d);
      excess--;
    }
    for (const [encoded, ino] of this.refDirs) {
      if (excess <= 0) break;
      if (busy.has(encoded)) continue;
      this.refDirs.delete(encoded);
      this.nodes.delete(ino);
      excess--;
    }
  }

  /** The references with resolved layers (`encoded` undefined), or the resolved layers of one. */
  private *listInUse(encoded: string | undefined): Iterable<DirEntry> {
    const seen = new Set<string>();
    for (const d of this.layerDirs.values()) {
      if (!d.layer) continue;
      if (encoded === undefined) {
        if (seen.has(d.encoded)) continue;
        seen.add(d.encoded);
        yield { name: d.encoded, ino: this.refDir(d.encoded, d.ref), type: 'dir' };
      } else if (d.encoded === encoded) {
        yield { name: d.name, ino: d.dirIno, type: 'dir' };
      }
    }
  }

  private async lookupInLayerDir(d: LayerDir, name: string, options?: ReadOptions): Promise<Inode | undefined> {
    if (name !== DIFF_NAME && name !== INFO_NAME && name !== BLOB_NAME) return undefined;
    const layer = await this.resolve(d);
    if (name === INFO_NAME) return this.getattr(d.infoIno, options);
    if (name === BLOB_NAME) return this.getattr(d.blobIno, options);
    try {
      return await this.diffOf(d, layer, options);
    } catch (err) {
      if (!(err instanceof FuseErrno))
        this.log(`cannot serve ${layer.ref} layer ${layer.layer.digest}: ${(err as Error).message}`);
      throw err;
    }
  }

  /** The `diff` entry: a symlink to the kernel's mount of an EROFS layer, else the tree's root. */
  private async diffOf(d: LayerDir, layer: StoreLayer, options?: ReadOptions): Promise<Inode> {
    if (this.kernel) {
      if (!d.kernel) {
        const mounting = this.mountKernel(d, layer, this.kernel);
        // A failure to read the blob (a registry away) is tried again at the next lookup.
        mounting.catch(() => {
          if (d.kernel === mounting) d.kernel = undefined;
        });
        d.kernel = mounting;
      }
      const link = await d.kernel;
      if (link) return this.getattr(link.ino, options);
    }
    // The first look at the tree opens the layer (reads its TOC or superblock, or indexes it).
    const root = this.fromTree(d, await layer.tree.getattr(layer.tree.rootIno, options));
    if (!d.announced) {
      d.announced = true;
      this.log(await describeServing(layer));
    }
    return root;
  }

  /**
   * Mounts an EROFS layer with the kernel and makes `diff` a symlink to it; undefined for other
   * formats, and when the kernel refuses the image (its tree is then served through FUSE).
   */
  private async mountKernel(
    d: LayerDir,
    layer: StoreLayer,
    kernel: KernelLayers,
  ): Promise<{ ino: number; target: string } | undefined> {
    if ((await layer.format()) !== 'erofs') return undefined;
    const what = `${layer.ref} layer ${layer.layer.digest}`;
    try {
      const target = await kernel.mount(d.key, await layer.blob());
      if (this.layerDirs.get(d.key) !== d) {
        await kernel.unmount(d.key);
        throw new FuseErrno(E.ESTALE);
      }
      this.log(`serving ${what} lazily: erofs, mounted by the kernel at ${target}`);
      d.linkIno = this.newIno({ kind: 'link', dir: d, target });
      return { ino: d.linkIno, target };
    } catch (err) {
      if (err instanceof FuseErrno) throw err;
      this.log(`the kernel did not mount ${what} (${(err as Error).message}); serving its tree through FUSE`);
      return undefined;
    }
  }

  /** The layer a directory names, resolving its image on first use. */
  private resolve(d: LayerDir): Promise<StoreLayer> {
    if (d.layer) return Promise.resolve(d.layer);
    d.resolving ??= this.open(d).then(
      (layer) => {
        d.resolving = undefined;
        if (this.layerDirs.get(d.key) !== d) {
          // Released while it resolved: give it back at once.
          void this.images.release(layer);
          throw new FuseErrno(E.ESTALE);
        }
        d.layer = layer;
        return layer;
      },
      (err: unknown) => {
        d.resolving = undefined;
        throw err;
      },
    );
    return d.resolving;
  }

  private async open(d: LayerDir): Promise<StoreLayer> {
    try {
      return await this.images.layer(d.ref, d.name);
    } catch (err) {
      this.log(`cannot serve ${d.ref} layer ${d.name}: ${(err as Error).message}`);
      throw err;
    }
  }

  private treeOf(d: LayerDir): FileSystem {
    if (!d.layer) throw new FuseErrno(E.ESTALE);
    return d.layer.tree;
  }

  private treeIno(d: LayerDir, local: number): number {
    let ino = d.inos.get(local);
    if (ino === undefined) {
      ino = this.newIno({ kind: 'tree', dir: d, local });
      d.inos.set(local, ino);
    }
    return ino;
  }

  private fromTree(d: LayerDir, inode: Inode): Inode {
    return { ...inode, ino: this.treeIno(d, inode.ino) };
  }

  // ---- containers/storage's signals ----

  private async create(dirIno: number, name: string): Promise<void> {
    const n = this.nodes.get(dirIno);
    if (n?.kind !== 'layer' || name !== USE_NAME) throw new FuseErrno(E.EROFS);
    n.dir.uses++;
    debug('use %s %s: %d', n.dir.ref, n.dir.name, n.dir.uses);
    // "Notification-aware Additional Layer Store must return ENOENT" (containers/storage).
    throw new FuseErrno(E.ENOENT);
  }

  private async rmdir(dirIno: number, name: string): Promise<void> {
    const n = this.nodes.get(dirIno);
    if (n?.kind !== 'ref') throw new FuseErrno(E.EROFS);
    const d = this.layerDirs.get(`${n.encoded}\n${name}`);
    if (d) {
      d.uses = Math.max(0, d.uses - 1);
      debug('release %s %s: %d', d.ref, d.name, d.uses);
      if (d.uses === 0) await this.release(d);
    }
    throw new FuseErrno(E.ENOENT);
  }

  private async release(d: LayerDir): Promise<void> {
    this.dropLayerDir(d);
    if (d.kernel) await this.kernel?.unmount(d.key);
    const layer = d.layer ?? (await d.resolving?.catch(() => undefined));
    d.layer = undefined;
    if (!layer) return;
    this.log(`released ${layer.ref} layer ${d.name}`);
    await this.images.release(layer);
  }

  private dropLayerDir(d: LayerDir): void {
    if (this.layerDirs.get(d.key) === d) this.layerDirs.delete(d.key);
    for (const ino of [d.dirIno, d.infoIno, d.blobIno, d.linkIno ?? 0, ...d.inos.values()]) this.nodes.delete(ino);
    d.inos.clear();
  }
}

/** The line that says how a layer is served — loudly when it could not be served lazily. */
async function describeServing(layer: StoreLayer): Promise<string> {
  const what = `${layer.ref} layer ${layer.layer.digest}`;
  const access = await layer.describe().catch(() => undefined);
  if (!access) return `serving ${what}`;
  if (access.lazy) return `serving ${what} lazily: ${access.format}`;
  return `serving ${what} after reading it whole once: ${access.format} (no SOCI index, not eStargz or zstd:chunked)`;
}

function isReference(ref: string): boolean {
  try {
    parseReference(ref);
    return true;
  } catch {
    return false;
  }
}
