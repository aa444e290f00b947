/**
 * The content of one inode as a byte source: uncompressed layouts read straight from the
 * device ranges they map to (one read per contiguous run, no copy when a read falls in one
 * run); compressed layouts decode whole physical clusters once, keep them in a bounded LRU
 * shared by the whole image, and serve every read inside an extent from there, so sequential
 * reads never fetch or decode a cluster twice.
 *
 * @packageDocumentation
 */
import { throwIfAborted } from '../errors.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { clampRead } from '../io/check-range.js';
import { mapRaw } from './block-map.js';
import { readMeta, readPhysical, type ErofsContext } from './context.js';
import { decodeCluster } from './decompress.js';
import { CorruptErofsError } from './errors.js';
import { Z_EROFS_COMPRESSION_INTERLACED } from './format.js';
import { isCompressed, type ErofsInode } from './inode.js';
import { ZMap, type ZExtent } from './zmap.js';

/** How an {@link ErofsFileData} reads. */
export interface FileDataOptions {
  /**
   * Read uncompressed data through the metadata page cache (for directories, whose blocks
   * are metadata that lookups revisit).
   */
  metaCached?: boolean;
}

/** A byte source over the content of one EROFS inode. */
export class ErofsFileData implements ByteSource {
  readonly size: number;
  private readonly zmap?: ZMap;
  /** The extent of the last compressed read: sequential reads skip re-mapping. */
  private last?: ZExtent;

  constructor(
    private readonly ctx: ErofsContext,
    readonly inode: ErofsInode,
    private readonly opts: FileDataOptions = {},
  ) {
    this.size = inode.size;
    if (isCompressed(inode)) this.zmap = new ZMap(ctx, inode);
  }

  async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    throwIfAborted(options?.signal);
    const n = clampRead(offset, length, this.size);
    if (n === 0) return new Uint8Array(0);
    return this.zmap ? this.readCompressed(offset, n, options) : this.readRaw(offset, n, options);
  }

  private async readRaw(offset: number, n: number, options?: ReadOptions): Promise<Uint8Array> {
    const extents = await mapRaw(this.ctx, this.inode, offset, n, options);
    if (extents.length === 1 && extents[0].kind !== 'hole') return this.rawPiece(extents[0], options);
    const out = new Uint8Array(n);
    await Promise.all(
      extents.map(async (e) => {
        if (e.kind !== 'hole') out.set(await this.rawPiece(e, options), e.la - offset);
      }),
    );
    return out;
  }

  private rawPiece(e: { kind: 'data'; length: number; deviceId: number; pa: number } | { kind: 'inline'; length: number; pos: number }, options?: ReadOptions): Promise<Uint8Array> {
    if (e.kind === 'inline') return readMeta(this.ctx, this.inode.inMetabox, e.pos, e.length, options);
    if (this.opts.metaCached && e.deviceId === 0 && this.ctx.sb.devices.length === 0) return this.ctx.meta.read(e.pa, e.length, options);
    return readPhysical(this.ctx, e.deviceId, e.pa, e.length, this.inode.nid, options);
  }

  private async extentAt(pos: number, options?: ReadOptions): Promise<ZExtent> {
    const l = this.last;
    if (l !== undefined && l.la <= pos && pos < l.la + l.llen) return l;
    const e = await this.zmap!.map(pos, options);
    this.last = e;
    return e;
  }

  private async readCompressed(offset: number, n: number, options?: ReadOptions): Promise<Uint8Array> {
    const end = offset + n;
    let out: Uint8Array | undefined;
    let pos = offset;
    while (pos < end) {
      const e = await this.extentAt(pos, options);
      const stop = Math.min(end, e.la + e.llen);
      if (stop <= pos) throw new CorruptErofsError(`extent at ${e.la} makes no progress`, { nid: this.inode.nid, la: pos });
      let piece: Uint8Array | undefined;
      if (e.kind === 'fragment') {
        piece = await this.readFragment(e.fragmentOff + (pos - e.la), stop - pos, options);
      } else if (e.kind !== 'hole') {
        const data = await this.decoded(e, options);
        piece = data.subarray(pos - e.la, stop - e.la);
      }
      if (out === undefined) {
        if (stop === end && piece !== undefined) return piece; // one extent: a view, no copy
        out = new Uint8Array(n);
      }
      if (piece !== undefined) out.set(piece, pos - offset);
      pos = stop;
    }
    return out!;
  }

  private async readFragment(off: number, len: number, options?: ReadOptions): Promise<Uint8Array> {
    const packed = await this.ctx.packed(this.inode.nid, options);
    if (off + len > packed.size) {
      throw new CorruptErofsError(`fragment at ${off}+${len} lies outside the packed inode (${packed.size} bytes)`, { nid: this.inode.nid });
    }
    return packed.read(off, len, options);
  }

  /** The decoded bytes of an encoded or inline extent, from the shared cluster cache. */
  private decoded(e: Extract<ZExtent, { kind: 'encoded' | 'inline' }>, options?: ReadOptions): Promise<Uint8Array> {
    const { ctx, inode } = this;
    const rot = e.alg === Z_EROFS_COMPRESSION_INTERLACED ? e.la % ctx.sb.blockSize : 0;
    const space = e.kind === 'inline' ? (inode.inMetabox ? 'm' : 'i') : 'p';
    const key = `${space}${e.pa}:${e.plen}:${e.llen}:${e.alg}:${e.partialRef ? 1 : 0}:${rot}`;
    const hit = ctx.clusters.get(key);
    if (hit !== undefined) return hit;
    const promise = (async () => {
      const raw =
        e.kind === 'inline'
          ? await readMeta(ctx, inode.inMetabox, e.pa, e.plen, options)
          : await readPhysical(ctx, 0, e.pa, e.plen, inode.nid, options);
      return decodeCluster(ctx.sb, { raw, llen: e.llen, alg: e.alg, la: e.la, partial: e.partialRef, nid: inode.nid });
    })();
    ctx.clusters.set(key, promise, e.llen);
    promise.catch(() => ctx.clusters.delete(key));
    return promise;
  }
}
