/**
 * Writes an EROFS image from build entries, streaming: file contents go to the image file as
 * they arrive (block 1 onwards), the tree is kept in memory (one node per inode — memory grows
 * with the number of files, not their size), and at the end the directories, the metadata area
 * and finally the superblock (block 0) are written. 4 KiB blocks.
 *
 * Layout: `[block 0: superblock, compression configs][file data][directory and symlink blocks]
 * [metadata: inodes, xattrs, inline tails, block maps, lcluster indexes]`. `meta_blkaddr` is one
 * block before the metadata so that no inode has nid 0 (as mkfs.erofs does); the root inode
 * comes first (nid 128, within the superblock's 16-bit root nid). An inode with an inline tail
 * never crosses a block boundary (the kernel reads inline data from one block).
 *
 * Inodes are compact (32 bytes) when their mtime equals the image's epoch — the most common
 * mtime in the tree — and the other fields fit, else extended (64 bytes, nanosecond mtimes);
 * compact inodes store a relative mtime of 0, which readers old and new read the same way.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { throwIfAborted, InvalidOptionError } from '../../errors.js';
import {
  DIC,
  DIE,
  EROFS_FEATURE_INCOMPAT_BIG_PCLUSTER,
  EROFS_FEATURE_INCOMPAT_CHUNKED_FILE,
  EROFS_FEATURE_INCOMPAT_ZERO_PADDING,
  EROFS_INODE_CHUNK_BASED,
  EROFS_INODE_COMPRESSED_FULL,
  EROFS_INODE_FLAT_INLINE,
  EROFS_INODE_FLAT_PLAIN,
  EROFS_ISLOTBITS,
  Z_EROFS_ADVISE_BIG_PCLUSTER_1,
  roundUp,
} from '../../erofs/format.js';
import type { BuildEntry, ContentPiece } from '../entry.js';
import { BlockFile } from './block-file.js';
import { EROFS_COMPRESSIONS, algorithmOf, fullIndexes, type ErofsCompression } from './compress.js';
import { writeFileData, type FileData } from './file-data.js';
import { encodeSuperblock } from './superblock.js';
import {
  FILE_TYPE_CODES,
  encodeDirBlock,
  encodeInode,
  encodeMapHeader,
  encodeXattrs,
  planDir,
  type DirPlan,
} from './metadata.js';
import { FlattenTree, LayerTree, type TreeNode } from './tree.js';
import type { DirMeta } from '../dir-history.js';
import { UnconvertibleEntryError } from '../errors.js';

/** Block size of the images written. */
export const EROFS_BLOCK_SIZE = 4096;
/** Default memory for file tails kept to be inlined after their inodes. */
export const DEFAULT_TAIL_BUDGET = 64 * 1024 * 1024;

/** Options of {@link ErofsWriter}. */
export interface ErofsWriterOptions {
  /** File data compression (default `none`). */
  compression?: ErofsCompression;
  /**
   * `layer` (default): one layer, OCI whiteouts written as overlayfs ones. `flatten`: layers
   * merged, added top layer first ({@link ErofsWriter.addEntries} with decreasing `layer`).
   */
  mode?: 'layer' | 'flatten';
  /** Bytes of file tails held for inlining (default {@link DEFAULT_TAIL_BUDGET}); past it tails get a block. */
  tailBudget?: number;
  /**
   * Layer mode: the metadata a directory the layer only implies (no entry of its own) takes,
   * by path — the layers below's, as the merged view and `umoci unpack` keep it. Without it,
   * or when it has none, such a directory is 0755 root:root with mtime 0.
   */
  impliedDir?: (path: string) => DirMeta | undefined;
  /** Called with the content bytes written so far, after each file. */
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
}

/** What {@link ErofsWriter.finish} reports. */
export interface ErofsImageInfo {
  /** Bytes of the image file. */
  size: number;
  inodes: number;
  /** Regular-file content bytes written (logical). */
  contentBytes: number;
}

/** Per-inode layout facts computed at the end. */
interface NodeInfo {
  nid: bigint;
  ino: number;
  nlink: number;
  extended: boolean;
  layout: number;
  iu: number;
  size: number;
  xattr: Uint8Array;
  /** Bytes after the inode and xattrs: inline tail, block map, or map header + indexes. */
  extra: Uint8Array;
  /** `extra` is an inline tail (which must share a block with the inode). */
  inlineTail: boolean;
  /** Directory or symlink bytes that go to the data area (whole blocks). */
  blockData?: Uint8Array | DirPlan;
  blockCount: number;
  parent?: TreeNode;
}

const EMPTY: AsyncIterable<ContentPiece> = { [Symbol.asyncIterator]: async function* () {} };

/** Builds one EROFS image file; see the module comment. */
export class ErofsWriter {
  private readonly tree: LayerTree | FlattenTree;
  private readonly compression: ErofsCompression;
  private readonly tailBudget: number;
  private tailBytes = 0;
  private contentBytes = 0;
  private finished = false;

  private constructor(
    private readonly path: string,
    private readonly fh: FileHandle,
    private readonly out: BlockFile,
    private readonly options: ErofsWriterOptions,
  ) {
    this.compression = options.compression ?? 'none';
    this.tailBudget = options.tailBudget ?? DEFAULT_TAIL_BUDGET;
    this.tree = options.mode === 'flatten' ? new FlattenTree() : new LayerTree();
  }

  /** Creates (or truncates) the image file at `path`. */
  static async create(path: string, options: ErofsWriterOptions = {}): Promise<ErofsWriter> {
    if (options.compression !== undefined && !EROFS_COMPRESSIONS.includes(options.compression)) {
      throw new InvalidOptionError('compression', `must be one of ${EROFS_COMPRESSIONS.join(', ')}`);
    }
    if (options.tailBudget !== undefined && (!Number.isSafeInteger(options.tailBudget) || options.tailBudget < 0)) {
      throw new InvalidOptionError('tailBudget', 'must be a non-negative integer');
    }
    const fh = await open(path, 'w', 0o644);
    return new ErofsWriter(path, fh, new BlockFile(fh, EROFS_BLOCK_SIZE, 1), options);
  }

  /**
   * Adds the entries of one layer (flatten: layers top first, `layer` decreasing). Contents
   * are read as they come; a hidden entry's content is left to the source to skip.
   */
  async addEntries(entries: AsyncIterable<BuildEntry>, layer = 0): Promise<void> {
    const bs = EROFS_BLOCK_SIZE;
    for await (const e of entries) {
      throwIfAborted(this.options.signal);
      // Checked here, where the entry's path is known for the error.
      const xattrBytes = e.xattrs?.size ? encodeXattrs(e.xattrs, e.path).length : 0;
      let r = this.tree.add(e, layer);
      let content = e.content;
      if (r.kind === 'resolve') {
        // A hardlink whose target a higher layer hid keeps the old content: the file again.
        if (!e.resolve)
          throw new UnconvertibleEntryError(
            e.path,
            `hardlink to ${JSON.stringify(e.linkName)}, which a higher layer hides, and the source cannot give its content`,
          );
        const file = await e.resolve();
        r = (this.tree as FlattenTree).addResolved(e, file, layer);
        content = file.content;
      }
      if (r.kind !== 'file') continue;
      r.node.data = await writeFileData(content ?? EMPTY, r.node.size, e.sparse === true, {
        out: this.out,
        compression: this.compression,
        signal: this.options.signal,
        keepTail: (n) => {
          if (this.tailBytes + n > this.tailBudget || DIE.size + xattrBytes + n > bs) return false;
          this.tailBytes += n;
          return true;
        },
      });
      this.contentBytes += r.node.size;
      this.options.onProgress?.(this.contentBytes);
    }
    this.tree.endLayer();
  }

  /** Writes directories, metadata and the superblock, and closes the file. */
  async finish(): Promise<ErofsImageInfo> {
    if (this.finished) throw new Error('ErofsWriter.finish() called twice');
    this.finished = true;
    try {
      const info = await this.writeMetadata();
      await this.fh.sync();
      return info;
    } finally {
      await this.fh.close();
    }
  }

  /** Closes and removes the partial image. */
  async abort(): Promise<void> {
    if (!this.finished) {
      this.finished = true;
      await this.fh.close().catch(() => {});
    }
    await rm(this.path, { force: true });
  }

  private async writeMetadata(): Promise<ErofsImageInfo> {
    const bs = EROFS_BLOCK_SIZE;
    const { order, parents } = this.collect();
    const infos = new Map<TreeNode, NodeInfo>();
    // The most common mtime becomes the epoch: those inodes can be compact.
    const counts = new Map<string, number>();
    for (const n of order) {
      const k = `${n.mtimeSec}.${n.mtimeNsec}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    let epochKey = '0.0';
    let best = -1;
    for (const [k, c] of counts) if (c > best) [epochKey, best] = [k, c];
    const [epoch, fixedNsec] = epochKey.split('.').map(Number);
    const nlinks = this.linkCounts(order);

    let features = EROFS_FEATURE_INCOMPAT_ZERO_PADDING;
    let algs = 0;
    for (let i = 0; i < order.length; i++) {
      const n = order[i];
      const info = this.layoutNode(n, i + 1, nlinks.get(n) ?? 1, epoch, fixedNsec);
      info.parent = parents.get(n);
      if (info.layout === EROFS_INODE_COMPRESSED_FULL) {
        features |= EROFS_FEATURE_INCOMPAT_BIG_PCLUSTER;
        algs |= 1 << algorithmOf(this.compression as Exclude<ErofsCompression, 'none'>);
      }
      if (info.layout === EROFS_INODE_CHUNK_BASED) features |= EROFS_FEATURE_INCOMPAT_CHUNKED_FILE;
      infos.set(n, info);
    }
    // Directory and symlink blocks go after the file data, in inode order.
    await this.out.flush();
    let cursor = this.out.nextBlock;
    for (const n of order) {
      const info = infos.get(n)!;
      if (info.blockCount === 0) continue;
      info.iu = cursor;
      cursor += info.blockCount;
    }
    const metaStart = cursor;
    // Inode placement; nids count 32-byte slots from one block before the metadata.
    let pos = 0;
    for (const n of order) {
      const info = infos.get(n)!;
      const inodeSize = info.extended ? DIE.size : DIC.size;
      const head = inodeSize + info.xattr.length + (info.inlineTail ? info.extra.length : 0);
      if (head <= bs && (pos % bs) + head > bs) pos = roundUp(pos, bs);
      info.nid = BigInt((bs + pos) >> EROFS_ISLOTBITS);
      pos = roundUp(pos + this.recordSize(info), 1 << EROFS_ISLOTBITS);
    }
    // Now the directory blocks can name their children's nids.
    for (const n of order) {
      const info = infos.get(n)!;
      if (info.blockData === undefined) continue;
      const bytes = this.blockBytes(n, info, infos);
      if (info.blockCount === 0) continue;
      const at = await this.out.append(bytes);
      if (at !== info.iu) throw new Error(`internal: directory blocks at ${at}, expected ${info.iu}`);
    }
    const meta = new Uint8Array(roundUp(pos, bs));
    for (const n of order) {
      const info = infos.get(n)!;
      const at = Number(info.nid) * 32 - bs;
      const inode = encodeInode({
        extended: info.extended,
        datalayout: info.layout,
        type: n.type,
        perm: n.mode,
        xattrBytes: info.xattr.length,
        nlink: info.nlink,
        size: info.size,
        uid: n.uid,
        gid: n.gid,
        mtimeSec: n.mtimeSec,
        mtimeNsec: n.mtimeNsec,
        iu: info.iu,
        ino: info.ino,
      });
      meta.set(inode, at);
      meta.set(info.xattr, at + inode.length);
      const extraAt = at + inode.length + info.xattr.length;
      meta.set(info.extra, info.layout === EROFS_INODE_COMPRESSED_FULL ? roundUp(extraAt, 8) : extraAt);
    }
    const metaBlk = await this.out.append(meta);
    if (metaBlk !== metaStart) throw new Error(`internal: metadata at block ${metaBlk}, expected ${metaStart}`);
    await this.out.flush();
    const totalBlocks = this.out.nextBlock;
    const sb = encodeSuperblock(EROFS_BLOCK_SIZE, {
      rootNid: Number(infos.get(this.tree.root)!.nid),
      inodes: order.length,
      epoch,
      fixedNsec,
      blocks: totalBlocks,
      metaBlkaddr: metaStart - 1,
      features,
      algs,
      uuid: createHash('sha256').update(meta).digest().subarray(0, 16),
    });
    await this.out.writeAt(sb, 0);
    return { size: totalBlocks * bs, inodes: order.length, contentBytes: this.contentBytes };
  }

  /** Every inode once, depth first (a directory's children by name), whiteout markers dropped. */
  private collect(): { order: TreeNode[]; parents: Map<TreeNode, TreeNode> } {
    const order: TreeNode[] = [];
    const parents = new Map<TreeNode, TreeNode>();
    const seen = new Set<TreeNode>();
    const stack: [TreeNode, string][] = [[this.tree.root, '']];
    while (stack.length) {
      const [n, path] = stack.pop()!;
      if (seen.has(n)) continue;
      seen.add(n);
      order.push(n);
      if (!n.children) continue;
      if (n.implied && this.options.mode !== 'flatten') this.fillImplied(n, path);
      for (const [name, c] of n.children) if (c.whiteout) n.children.delete(name);
      // By name bytes, last first (the stack pops the first name next).
      const kids = [...n.children.entries()]
        .map(([name, c]) => ({ name, c, key: Buffer.from(name) }))
        .sort((a, b) => Buffer.compare(b.key, a.key));
      for (const { name, c } of kids) {
        if (c.type === 'dir') parents.set(c, n);
        stack.push([c, path === '' ? name : `${path}/${name}`]);
      }
    }
    return { order, parents };
  }

  /** Gives an implied directory the metadata of the layers below (see {@link ErofsWriterOptions.impliedDir}). */
  private fillImplied(n: TreeNode, path: string): void {
    const m = this.options.impliedDir?.(path);
    if (!m) return;
    Object.assign(n, { mode: m.mode, uid: m.uid, gid: m.gid, mtimeSec: m.mtimeSec, mtimeNsec: m.mtimeNsec });
    // The layer's own xattrs on it (an opaque marker) stay; the rest come from below.
    const own = n.xattrs;
    n.xattrs = new Map([...(m.xattrs ?? []), ...(own ?? [])]);
    if (n.xattrs.size === 0) delete n.xattrs;
  }

  /** Link counts: the names of each non-directory; 2 + subdirectories for a directory. */
  private linkCounts(order: TreeNode[]): Map<TreeNode, number> {
    const m = new Map<TreeNode, number>();
    for (const n of order) {
      if (n.type !== 'dir') continue;
      let subdirs = 0;
      for (const c of n.children!.values()) {
        if (c.type === 'dir') subdirs++;
        else m.set(c, (m.get(c) ?? 0) + 1);
      }
      m.set(n, 2 + subdirs);
    }
    return m;
  }

  private layoutNode(n: TreeNode, ino: number, nlink: number, epoch: number, fixedNsec: number): NodeInfo {
    const bs = EROFS_BLOCK_SIZE;
    const xattr = encodeXattrs(n.xattrs, '?');
    const info: NodeInfo = {
      nid: 0n,
      ino,
      nlink,
      extended: false,
      layout: EROFS_INODE_FLAT_PLAIN,
      iu: 0,
      size: 0,
      xattr,
      extra: new Uint8Array(0),
      inlineTail: false,
      blockCount: 0,
    };
    let size = 0;
    if (n.type === 'file') {
      size = n.size;
      this.layoutFile(n.data, info);
    } else if (n.type === 'dir' || n.type === 'symlink') {
      const enc = new TextEncoder();
      const plan =
        n.type === 'dir'
          ? planDir(
              [...n.children!].map(([name, c]) => ({
                name: enc.encode(name),
                fileType: FILE_TYPE_CODES[c.type],
                ref: c,
              })),
              bs,
            )
          : undefined;
      size = plan ? plan.size : n.target!.length;
      const full = Math.floor(size / bs);
      const tailLen = size - full * bs;
      const inlineOk = tailLen > 0 && DIE.size + xattr.length + tailLen <= bs;
      info.layout = inlineOk ? EROFS_INODE_FLAT_INLINE : EROFS_INODE_FLAT_PLAIN;
      info.inlineTail = inlineOk;
      // The tail's bytes are known once the nids are (see blockBytes); its room is kept now.
      if (inlineOk) info.extra = new Uint8Array(tailLen);
      info.blockCount = inlineOk ? full : Math.ceil(size / bs);
      info.blockData = plan ?? n.target!;
    } else if (n.type === 'chardev' || n.type === 'blockdev') {
      info.iu = n.rdev;
    }
    info.size = size;
    info.extended =
      n.uid > 0xffff ||
      n.gid > 0xffff ||
      size > 0xffffffff ||
      nlink > 0xffff ||
      n.mtimeSec !== epoch ||
      n.mtimeNsec !== fixedNsec;
    return info;
  }

  private layoutFile(data: FileData | undefined, info: NodeInfo): void {
    const bs = EROFS_BLOCK_SIZE;
    if (!data) return; // empty
    switch (data.kind) {
      case 'flat':
        info.layout = data.tail ? EROFS_INODE_FLAT_INLINE : EROFS_INODE_FLAT_PLAIN;
        info.iu = data.blocks > 0 ? data.startBlk : 0;
        if (data.tail) {
          info.extra = data.tail;
          info.inlineTail = true;
        }
        return;
      case 'chunked': {
        info.layout = EROFS_INODE_CHUNK_BASED;
        info.iu = data.chunkBits; // chunk format: block map (no EROFS_CHUNK_FORMAT_INDEXES)
        const map = new Uint8Array(data.map.length * 4);
        const dv = new DataView(map.buffer);
        data.map.forEach((b, i) => dv.setUint32(i * 4, b, true));
        info.extra = map;
        return;
      }
      case 'compressed': {
        info.layout = EROFS_INODE_COMPRESSED_FULL;
        info.iu = data.blocks;
        const alg = algorithmOf(this.compression as Exclude<ErofsCompression, 'none'>);
        const header = encodeMapHeader(Z_EROFS_ADVISE_BIG_PCLUSTER_1, alg, 0);
        const indexes = fullIndexes(data.extents, bs);
        const extra = new Uint8Array(header.length + 8 + indexes.length);
        extra.set(header, 0);
        extra.set(indexes, header.length + 8);
        info.extra = extra;
        return;
      }
    }
  }

  /** Bytes of an inode's record: inode, xattrs, and what follows them. */
  private recordSize(info: NodeInfo): number {
    const base = (info.extended ? DIE.size : DIC.size) + info.xattr.length;
    return (info.layout === EROFS_INODE_COMPRESSED_FULL ? roundUp(base, 8) : base) + info.extra.length;
  }

  /** The data-area bytes of a directory or symlink; an inlined tail becomes the inode's `extra`. */
  private blockBytes(n: TreeNode, info: NodeInfo, infos: Map<TreeNode, NodeInfo>): Uint8Array {
    const bs = EROFS_BLOCK_SIZE;
    let bytes: Uint8Array;
    const data = info.blockData!;
    if (data instanceof Uint8Array) bytes = data;
    else {
      const plan = data;
      const parent = info.parent ?? n;
      const nidOf = (i: number): bigint => {
        const ref = plan.names[i].ref as TreeNode | undefined;
        if (ref) return infos.get(ref)!.nid;
        return plan.names[i].name.length === 1 ? info.nid : infos.get(parent)!.nid; // `.` or `..`
      };
      bytes = new Uint8Array(plan.size);
      for (let b = 0; b < plan.starts.length; b++) bytes.set(encodeDirBlock(plan, b, bs, nidOf), b * bs);
    }
    const inBlocks = info.blockCount * bs;
    if (info.inlineTail) info.extra = bytes.slice(inBlocks);
    return bytes.subarray(0, Math.min(bytes.length, inBlocks));
  }
}
