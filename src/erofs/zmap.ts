/**
 * Where the bytes of a compressed inode are: the map header (`struct z_erofs_map_header`), the
 * full (`struct z_erofs_lcluster_index`) and compact (2B/4B packs) logical-cluster indexes and
 * the extent records (`struct z_erofs_extent`), turned into whole decoded extents. Follows
 * erofs-utils' `lib/zmap.c` and the kernel's `fs/erofs/zmap.c`: lcluster types
 * PLAIN/HEAD1/HEAD2/NONHEAD, delta[0]/delta[1] look-back and look-ahead, big pclusters
 * (CBLKCNT), ztailpacking (inline pcluster), fragments (packed inode) and partial references.
 *
 * Unlike the kernel, which maps only as far as a page needs, every mapping here covers a whole
 * extent (the FIEMAP walk), so that one decoded physical cluster serves every read inside it.
 *
 * Every walk is bounded: look-back moves strictly backwards, look-ahead strictly forwards and
 * stops past `Z_EROFS_PCLUSTER_MAX_DSIZE`, so corrupt indexes give an error, never a hang.
 *
 * @packageDocumentation
 */
import type { ReadOptions } from '../io/byte-source.js';
import { peekMeta, readMeta, type ErofsContext } from './context.js';
import { CorruptErofsError, UnsupportedErofsError } from './errors.js';
import {
  EROFS_FEATURE_INCOMPAT_BIG_PCLUSTER,
  EROFS_INODE_COMPRESSED_COMPACT,
  EROFS_INODE_COMPRESSED_FULL,
  LCLUSTER_INDEX,
  MAP_HEADER,
  Z_EROFS_ADVISE_BIG_PCLUSTER_1,
  Z_EROFS_ADVISE_BIG_PCLUSTER_2,
  Z_EROFS_ADVISE_COMPACTED_2B,
  Z_EROFS_ADVISE_EXTENTS,
  Z_EROFS_ADVISE_FRAGMENT_PCLUSTER,
  Z_EROFS_ADVISE_INLINE_PCLUSTER,
  Z_EROFS_ADVISE_INTERLACED_PCLUSTER,
  Z_EROFS_COMPRESSION_INTERLACED,
  Z_EROFS_COMPRESSION_MAX,
  Z_EROFS_COMPRESSION_SHIFTED,
  Z_EROFS_FRAGMENT_INODE_BIT,
  Z_EROFS_LCLUSTER_TYPE_HEAD2,
  Z_EROFS_LCLUSTER_TYPE_NONHEAD,
  Z_EROFS_LCLUSTER_TYPE_PLAIN,
  Z_EROFS_LI_D0_CBLKCNT,
  Z_EROFS_LI_LCLUSTER_TYPE_MASK,
  Z_EROFS_LI_PARTIAL_REF,
  Z_EROFS_PCLUSTER_MAX_DSIZE,
  Z_EROFS_PCLUSTER_MAX_SIZE,
  roundDown,
  roundUp,
} from './format.js';
import type { ErofsInode } from './inode.js';
import { mapExtentRecords, type ExtentHeader } from './zmap-extents.js';
import { decodeCompactedBits, decodedType, lookaheadDistance } from './zmap-compact.js';
import type { ZExtent } from './zmap-extent.js';

export type { ZExtent } from './zmap-extent.js';

/**
 * Thrown by the synchronous mapping when index bytes it needs are not in memory: the caller
 * reads them (they stay pinned for the retry) and maps again. Most mappings of a file read
 * indexes that an earlier one already loaded, so they run without a single await.
 */
class NeedMeta {
  constructor(
    readonly pos: number,
    readonly len: number,
  ) {}
}

const NO_PINS: ReadonlyMap<number, Uint8Array> = new Map();

/** Index reads one mapping may need before it gives up (a corrupt index could want more). */
const MAX_MAPPING_READS = 4096;

/** What the lcluster index says about one lcluster (`struct z_erofs_maprecorder`). */
interface Rec {
  lcn: number;
  type: number;
  clusterofs: number;
  delta0: number;
  delta1: number;
  pblk: number;
  compressedblks: number;
  nextpackoff: number;
  partialref: boolean;
}

function newRec(): Rec {
  return {
    lcn: 0,
    type: 0,
    clusterofs: 0,
    delta0: 0,
    delta1: 0,
    pblk: 0,
    compressedblks: 0,
    nextpackoff: 0,
    partialref: false,
  };
}

/** The compression map of one inode: header parsed once, extents mapped on demand. */
export class ZMap {
  private ready?: Promise<void>;
  private advise = 0;
  private algorithmtype: [number, number] = [0, 0];
  private lclusterbits = 0;
  private lcsize = 0;
  private idataSize = 0;
  private fragmentOff = 0;
  private tailHeadLcn = -1;
  private inlinePos = 0;
  private ext?: ExtentHeader;
  private readonly nid: bigint;
  /** Set once the map header (and tail) are known. */
  private initialized = false;
  /**
   * Index bytes read for the synchronous mapping running right now (see {@link NeedMeta}), by
   * position: set just before it runs and reset right after, so concurrent mappings of one
   * file, each with its own reads, never see each other's.
   */
  private pinned: ReadonlyMap<number, Uint8Array> = NO_PINS;

  constructor(
    private readonly ctx: ErofsContext,
    private readonly inode: ErofsInode,
  ) {
    this.nid = inode.nid;
  }

  /** The extent containing file offset `la` (which must be below the file size). */
  async map(la: number, options?: ReadOptions): Promise<ZExtent> {
    if (!this.initialized) {
      this.ready ??= this.init(options);
      try {
        await this.ready;
      } catch (err) {
        this.ready = undefined;
        throw err;
      }
      this.initialized = true;
    }
    const e = this.ext
      ? await mapExtentRecords(this.ctx, this.inode, this.ext, la, options)
      : await this.withIndexes(() => this.mapIndexed(la), options);
    this.sanityCheck(e, la);
    return e;
  }

  /**
   * The extent containing `la` when everything needed to map it is in memory (the header read
   * and the index bytes cached), else undefined: a mapping without any await.
   */
  mapCached(la: number): ZExtent | undefined {
    if (!this.initialized || this.ext) return undefined;
    let e: ZExtent;
    try {
      e = this.mapIndexed(la);
    } catch (err) {
      if (err instanceof NeedMeta) return undefined;
      throw err;
    }
    this.sanityCheck(e, la);
    return e;
  }

  /** Runs a synchronous mapping, reading the index bytes it asks for until it completes. */
  private async withIndexes<T>(run: () => T, options?: ReadOptions): Promise<T> {
    const pins = new Map<number, Uint8Array>();
    for (let reads = 0; ; reads++) {
      this.pinned = pins;
      try {
        return run();
      } catch (err) {
        if (!(err instanceof NeedMeta)) throw err;
        if (reads >= MAX_MAPPING_READS) throw this.corrupt(`mapping needs more than ${MAX_MAPPING_READS} index reads`);
        this.pinned = NO_PINS;
        pins.set(err.pos, await readMeta(this.ctx, this.inode.inMetabox, err.pos, err.len, options));
      } finally {
        this.pinned = NO_PINS;
      }
    }
  }

  /** `len` index bytes at `pos`, from memory, or {@link NeedMeta}. */
  private indexBytes(pos: number, len: number): Uint8Array {
    const b = this.pinned.get(pos) ?? peekMeta(this.ctx, this.inode.inMetabox, pos, len);
    // NeedMeta is a signal the mapping's caller catches, not an error: no stack to capture.
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- see above
    if (b === undefined || b.length < len) throw new NeedMeta(pos, len);
    return b;
  }

  private corrupt(reason: string, extra: { la?: number; offset?: number } = {}): CorruptErofsError {
    return new CorruptErofsError(reason, { nid: this.nid, ...extra });
  }

  /** `z_erofs_fill_inode_lazy`: the map header, and for tail packing/fragments where the tail is. */
  private async init(options?: ReadOptions): Promise<void> {
    const { inode, ctx } = this;
    const pos = roundUp(inode.idataOff, 8);
    const h = await readMeta(ctx, inode.inMetabox, pos, MAP_HEADER.size, options);
    const dv = new DataView(h.buffer, h.byteOffset, MAP_HEADER.size);
    const clusterbits = dv.getUint8(MAP_HEADER.h_clusterbits);
    if (clusterbits >> Z_EROFS_FRAGMENT_INODE_BIT) {
      // The whole file lives in the packed inode; the other 63 bits are its offset there.
      const off = dv.getBigUint64(0, true) ^ (1n << 63n);
      if (off > BigInt(Number.MAX_SAFE_INTEGER)) throw this.corrupt(`fragment offset ${off} is out of range`);
      this.advise = Z_EROFS_ADVISE_FRAGMENT_PCLUSTER;
      this.fragmentOff = Number(off);
      this.tailHeadLcn = 0;
      return;
    }
    this.advise = dv.getUint16(MAP_HEADER.h_advise, true);
    this.lclusterbits = ctx.sb.blkszbits + (clusterbits & 15);
    this.lcsize = 2 ** this.lclusterbits;
    if (inode.datalayout === EROFS_INODE_COMPRESSED_FULL && this.advise & Z_EROFS_ADVISE_EXTENTS) {
      const count = dv.getUint32(0, true) + dv.getUint16(MAP_HEADER.h_algorithmtype, true) * 2 ** 32;
      this.ext = { advise: this.advise, lclusterbits: this.lclusterbits, extents: count, pos };
      return;
    }
    this.algorithmtype = [dv.getUint8(MAP_HEADER.h_algorithmtype) & 15, dv.getUint8(MAP_HEADER.h_algorithmtype) >> 4];
    if (this.advise & Z_EROFS_ADVISE_FRAGMENT_PCLUSTER) this.fragmentOff = dv.getUint32(MAP_HEADER.h_fragmentoff, true);
    else if (this.advise & Z_EROFS_ADVISE_INLINE_PCLUSTER) this.idataSize = dv.getUint16(MAP_HEADER.h_idata_size, true);
    const big1 = (this.advise & Z_EROFS_ADVISE_BIG_PCLUSTER_1) !== 0;
    const big2 = (this.advise & Z_EROFS_ADVISE_BIG_PCLUSTER_2) !== 0;
    if (inode.datalayout === EROFS_INODE_COMPRESSED_COMPACT && big1 !== big2) {
      throw this.corrupt('big pcluster head1/2 of compact indexes are inconsistent');
    }
    if ((big1 || big2) && !(ctx.sb.featureIncompat & EROFS_FEATURE_INCOMPAT_BIG_PCLUSTER)) {
      throw this.corrupt('big pclusters without the big_pcluster feature');
    }
    if (this.idataSize || this.advise & Z_EROFS_ADVISE_FRAGMENT_PCLUSTER)
      await this.withIndexes(() => this.findTail(), options);
  }

  /** The FINDTAIL mapping: the head lcluster of the extent holding the last byte. */
  private findTail(): void {
    const size = this.inode.size;
    if (size === 0) return;
    const m = newRec();
    const ofs = size - 1;
    this.load(m, Math.floor(ofs / this.lcsize), false);
    if (this.idataSize) this.inlinePos = m.nextpackoff;
    this.resolveHead(m, ofs % this.lcsize);
    this.tailHeadLcn = m.lcn;
    // Non-compact indexes keep the high 32 bits of the fragment offset in the head's blkaddr.
    if (this.advise & Z_EROFS_ADVISE_FRAGMENT_PCLUSTER && this.inode.datalayout === EROFS_INODE_COMPRESSED_FULL) {
      this.fragmentOff += m.pblk * 2 ** 32;
    }
  }

  /** Moves `m` from the lcluster holding an offset to its extent's head; returns the extent start. */
  private resolveHead(m: Rec, endoff: number): { la: number; headtype: number } {
    if (m.type !== Z_EROFS_LCLUSTER_TYPE_NONHEAD) {
      if (endoff >= m.clusterofs) return { la: m.lcn * this.lcsize + m.clusterofs, headtype: m.type };
      // The offset belongs to the extent before this head.
      if (m.lcn === 0) throw this.corrupt('invalid logical cluster 0');
      return this.lookback(m, 1);
    }
    return this.lookback(m, m.delta0);
  }

  /** `z_erofs_extent_lookback`: follow delta[0] back to a head lcluster. */
  private lookback(m: Rec, distance: number): { la: number; headtype: number } {
    while (distance > 0 && m.lcn >= distance) {
      this.load(m, m.lcn - distance, false);
      if (m.type === Z_EROFS_LCLUSTER_TYPE_NONHEAD) {
        distance = m.delta0;
        continue;
      }
      return { la: m.lcn * this.lcsize + m.clusterofs, headtype: m.type };
    }
    throw this.corrupt(`bogus lookback distance ${distance} at lcn ${m.lcn}`);
  }

  /** `z_erofs_map_blocks_fo`, extended to the whole extent. */
  private mapIndexed(la: number): ZExtent {
    const size = this.inode.size;
    const fragment = (this.advise & Z_EROFS_ADVISE_FRAGMENT_PCLUSTER) !== 0;
    if (fragment && this.tailHeadLcn === 0)
      return { kind: 'fragment', la: 0, llen: size, fragmentOff: this.fragmentOff };
    const m = newRec();
    this.load(m, Math.floor(la / this.lcsize), false);
    const { la: start, headtype } = this.resolveHead(m, la % this.lcsize);
    const headLcn = m.lcn;
    if (headLcn === this.tailHeadLcn) {
      if (this.idataSize) {
        const bs = this.ctx.sb.blockSize;
        if ((this.inlinePos % bs) + this.idataSize > bs)
          throw this.corrupt(`inline pcluster of ${this.idataSize} bytes crosses a block`);
        return {
          kind: 'inline',
          la: start,
          llen: size - start,
          pa: this.inlinePos,
          plen: this.idataSize,
          alg: this.algorithm(headtype),
          partialRef: m.partialref,
        };
      }
      if (fragment) return { kind: 'fragment', la: start, llen: size - start, fragmentOff: this.fragmentOff };
    }
    const partialRef = m.partialref;
    const pa = m.pblk * this.ctx.sb.blockSize;
    const plen = this.compressedBlocks(m, headtype) * this.ctx.sb.blockSize;
    const llen = this.extentEnd(headLcn, start) - start;
    return { kind: 'encoded', la: start, llen, pa, plen, alg: this.algorithm(headtype), partialRef };
  }

  private algorithm(headtype: number): number {
    if (headtype === Z_EROFS_LCLUSTER_TYPE_PLAIN) {
      return this.advise & Z_EROFS_ADVISE_INTERLACED_PCLUSTER
        ? Z_EROFS_COMPRESSION_INTERLACED
        : Z_EROFS_COMPRESSION_SHIFTED;
    }
    const alg = this.algorithmtype[headtype === Z_EROFS_LCLUSTER_TYPE_HEAD2 ? 1 : 0];
    if (alg >= Z_EROFS_COMPRESSION_MAX) {
      throw new UnsupportedErofsError(
        `unknown compression algorithm ${alg} for HEAD${headtype === Z_EROFS_LCLUSTER_TYPE_HEAD2 ? 2 : 1}`,
        { nid: this.nid },
      );
    }
    return alg;
  }

  /** `z_erofs_get_extent_compressedlen`: blocks of the physical cluster whose head `m` is. */
  private compressedBlocks(m: Rec, headtype: number): number {
    const big1 = (this.advise & Z_EROFS_ADVISE_BIG_PCLUSTER_1) !== 0;
    const big2 = (this.advise & Z_EROFS_ADVISE_BIG_PCLUSTER_2) !== 0;
    const next = m.lcn + 1;
    if ((headtype === 1 && !big1) || (headtype !== 1 && !big2) || next * this.lcsize >= this.inode.size) return 1;
    if (m.compressedblks) return m.compressedblks;
    this.load(m, next, false);
    if (m.type === Z_EROFS_LCLUSTER_TYPE_NONHEAD) {
      if (m.delta0 !== 1) throw this.corrupt(`bogus CBLKCNT at lcn ${next}`);
      if (m.compressedblks) return m.compressedblks;
      throw this.corrupt(`cannot find CBLKCNT at lcn ${next}`);
    }
    // The next lcluster is a head: a one-block pcluster.
    return 1;
  }

  /** `z_erofs_get_extent_decompressedlen`: where the extent starting at `start` ends. */
  private extentEnd(headLcn: number, start: number): number {
    const size = this.inode.size;
    const m = newRec();
    let lcn = headLcn;
    for (;;) {
      if (lcn * this.lcsize >= size) return size;
      if ((lcn - headLcn - 1) * this.lcsize > Z_EROFS_PCLUSTER_MAX_DSIZE) {
        throw new UnsupportedErofsError(`extent at ${start} decodes to more than ${Z_EROFS_PCLUSTER_MAX_DSIZE} bytes`, {
          nid: this.nid,
          la: start,
        });
      }
      this.load(m, lcn, true);
      if (m.type !== Z_EROFS_LCLUSTER_TYPE_NONHEAD) {
        if (lcn !== headLcn) return lcn * this.lcsize + m.clusterofs;
        m.delta1 = 1;
      } else if (m.delta1 < 1) {
        m.delta1 = 1; // pre-1.0 mkfs wrote 0 here
      }
      lcn += m.delta1;
    }
  }

  /** `z_erofs_load_lcluster_from_disk`. */
  private load(m: Rec, lcn: number, lookahead: boolean): void {
    if (this.inode.datalayout === EROFS_INODE_COMPRESSED_COMPACT) this.loadCompact(m, lcn, lookahead);
    else this.loadFull(m, lcn);
    if (m.type !== Z_EROFS_LCLUSTER_TYPE_NONHEAD && m.clusterofs >= this.lcsize) {
      throw this.corrupt(`clusterofs ${m.clusterofs} of lcn ${lcn} is beyond the lcluster`);
    }
  }

  /** `z_erofs_load_full_lcluster`: one 8-byte `struct z_erofs_lcluster_index`. */
  private loadFull(m: Rec, lcn: number): void {
    const pos = roundUp(this.inode.idataOff, 8) + MAP_HEADER.size + 8 + lcn * LCLUSTER_INDEX.size;
    const b = this.indexBytes(pos, LCLUSTER_INDEX.size);
    const dv = new DataView(b.buffer, b.byteOffset, LCLUSTER_INDEX.size);
    m.lcn = lcn;
    m.nextpackoff = pos + LCLUSTER_INDEX.size;
    const advise = dv.getUint16(LCLUSTER_INDEX.di_advise, true);
    m.type = advise & Z_EROFS_LI_LCLUSTER_TYPE_MASK;
    if (m.type === Z_EROFS_LCLUSTER_TYPE_NONHEAD) {
      m.clusterofs = this.lcsize;
      m.delta0 = dv.getUint16(LCLUSTER_INDEX.delta0, true);
      if (m.delta0 & Z_EROFS_LI_D0_CBLKCNT) {
        if (!(this.advise & (Z_EROFS_ADVISE_BIG_PCLUSTER_1 | Z_EROFS_ADVISE_BIG_PCLUSTER_2)))
          throw this.corrupt(`CBLKCNT at lcn ${lcn} without big pclusters`);
        m.compressedblks = m.delta0 & ~Z_EROFS_LI_D0_CBLKCNT;
        m.delta0 = 1;
      }
      m.delta1 = dv.getUint16(LCLUSTER_INDEX.delta1, true);
    } else {
      m.partialref = (advise & Z_EROFS_LI_PARTIAL_REF) !== 0;
      m.clusterofs = dv.getUint16(LCLUSTER_INDEX.di_clusterofs, true);
      m.pblk = dv.getUint32(LCLUSTER_INDEX.blkaddr, true);
    }
  }

  /** `z_erofs_load_compact_lcluster`: one lcluster of the 4B (2 per 8 bytes) or 2B (16 per 32 bytes) packs. */
  private loadCompact(m: Rec, lcn: number, lookahead: boolean): void {
    const bs = this.ctx.sb.blockSize;
    const bits = this.lclusterbits;
    const ebase = roundUp(this.inode.idataOff, 8) + MAP_HEADER.size;
    const totalidx = Math.ceil(this.inode.size / bs);
    if (lcn >= totalidx || bits > 14) throw this.corrupt(`lcn ${lcn} is beyond the ${totalidx} compact indexes`);
    m.lcn = lcn;
    // The 4B packs come first until the 2B packs can be 32-byte aligned.
    const initial4b = Math.floor((32 - (ebase % 32)) / 4) & 7;
    let compacted2b = 0;
    if (this.advise & Z_EROFS_ADVISE_COMPACTED_2B && initial4b < totalidx)
      compacted2b = roundDown(totalidx - initial4b, 16);
    let pos = ebase;
    let shift = 2;
    let i = lcn;
    if (i >= initial4b) {
      pos += initial4b * 4;
      i -= initial4b;
      if (i < compacted2b) shift = 1;
      else {
        pos += compacted2b * 2;
        i -= compacted2b;
      }
    }
    pos += i * 2 ** shift;
    let vcnt: number;
    if (shift === 2 && bits <= 14) vcnt = 2;
    else if (shift === 1 && bits <= 12) vcnt = 16;
    else throw new UnsupportedErofsError(`compact 2B indexes with lcluster size 2^${bits}`, { nid: this.nid });
    const packSize = vcnt * 2 ** shift;
    const packStart = roundDown(pos, packSize);
    m.nextpackoff = packStart + packSize;
    const pack = this.indexBytes(packStart, packSize);
    const dv = new DataView(pack.buffer, pack.byteOffset, packSize);
    const lobits = Math.max(bits, 12); // ilog2(Z_EROFS_LI_D0_CBLKCNT) + 1
    const encodebits = ((packSize - 4) * 8) / vcnt;
    let k = (pos - packStart) / 2 ** shift;
    let lo = decodeCompactedBits(dv, lobits, encodebits, k);
    const type = decodedType;
    m.type = type;
    const big = (this.advise & Z_EROFS_ADVISE_BIG_PCLUSTER_1) !== 0;
    if (type === Z_EROFS_LCLUSTER_TYPE_NONHEAD) {
      m.clusterofs = this.lcsize;
      if (lookahead) m.delta1 = lookaheadDistance(dv, lobits, encodebits, k, vcnt);
      if (lo & Z_EROFS_LI_D0_CBLKCNT) {
        if (!big) throw this.corrupt(`CBLKCNT at lcn ${lcn} without big pclusters`);
        m.compressedblks = lo & ~Z_EROFS_LI_D0_CBLKCNT;
        m.delta0 = 1;
        return;
      }
      if (k + 1 !== vcnt) {
        m.delta0 = lo;
        return;
      }
      // The last lcluster of a pack stores delta[1]; get delta[0] from the one before it.
      lo = decodeCompactedBits(dv, lobits, encodebits, k - 1);
      if (decodedType !== Z_EROFS_LCLUSTER_TYPE_NONHEAD) lo = 0;
      else if (lo & Z_EROFS_LI_D0_CBLKCNT) lo = 1;
      m.delta0 = lo + 1;
      return;
    }
    m.clusterofs = lo;
    m.delta0 = 0;
    // A head's blkaddr is the pack's base plus the blocks of the pclusters before it in the pack.
    let nblk: number;
    if (!big) {
      nblk = 1;
      while (k > 0) {
        --k;
        lo = decodeCompactedBits(dv, lobits, encodebits, k);
        if (decodedType === Z_EROFS_LCLUSTER_TYPE_NONHEAD) k -= lo;
        if (k >= 0) ++nblk;
      }
    } else {
      nblk = 0;
      while (k > 0) {
        --k;
        lo = decodeCompactedBits(dv, lobits, encodebits, k);
        if (decodedType === Z_EROFS_LCLUSTER_TYPE_NONHEAD) {
          if (lo & Z_EROFS_LI_D0_CBLKCNT) {
            --k;
            nblk += lo & ~Z_EROFS_LI_D0_CBLKCNT;
            continue;
          }
          if (lo <= 1) throw this.corrupt(`plain delta[0] ${lo} in a big-pcluster pack at lcn ${lcn}`);
          k -= lo - 2;
          continue;
        }
        ++nblk;
      }
    }
    m.pblk = dv.getUint32(packSize - 4, true) + nblk;
  }

  /** `z_erofs_map_sanity_check` plus the invariants the reader relies on. */
  private sanityCheck(e: ZExtent, la: number): void {
    if (!(e.la <= la && la < e.la + e.llen) || e.la + e.llen > this.inode.size) {
      throw this.corrupt(`extent [${e.la}, ${e.la + e.llen}) does not cover offset ${la} within the file`, { la });
    }
    if (e.kind === 'hole' || e.kind === 'fragment') return;
    if (e.alg < Z_EROFS_COMPRESSION_MAX && !(this.ctx.sb.availableComprAlgs & (1 << e.alg))) {
      throw this.corrupt(`algorithm ${e.alg} is not in the superblock's available_compr_algs`, { la });
    }
    if (e.plen <= 0 || e.plen > Z_EROFS_PCLUSTER_MAX_SIZE) throw this.corrupt(`pcluster of ${e.plen} bytes`, { la });
    if (e.llen > Z_EROFS_PCLUSTER_MAX_DSIZE) {
      throw new UnsupportedErofsError(`extent of ${e.llen} decoded bytes (max ${Z_EROFS_PCLUSTER_MAX_DSIZE})`, {
        nid: this.nid,
        la,
      });
    }
    if (e.alg >= Z_EROFS_COMPRESSION_MAX && e.llen > e.plen) {
      throw this.corrupt(`uncompressed extent of ${e.llen} bytes in a pcluster of ${e.plen}`, { la });
    }
  }
}
