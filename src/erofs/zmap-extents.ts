/**
 * The extent-record form of compressed inodes (`EROFS_INODE_COMPRESSED_FULL` with
 * `Z_EROFS_ADVISE_EXTENTS`, `struct z_erofs_extent`, records of 4/8/16/32 bytes), as
 * erofs-utils' `z_erofs_map_blocks_ext` reads it: small records are one per lcluster (4-byte
 * ones only carry `plen`, so physical addresses accumulate from an 8-byte start), large ones
 * carry their logical start and are binary-searched.
 *
 * @packageDocumentation
 */
import type { ReadOptions } from '../io/byte-source.js';
import { readMeta, type ErofsContext } from './context.js';
import { CorruptErofsError } from './errors.js';
import {
  MAP_HEADER,
  Z_EROFS_ADVISE_EXTRECSZ_BIT,
  Z_EROFS_ADVISE_EXTRECSZ_MASK,
  Z_EROFS_ADVISE_FRAGMENT_PCLUSTER,
  Z_EROFS_ADVISE_INTERLACED_PCLUSTER,
  Z_EROFS_COMPRESSION_INTERLACED,
  Z_EROFS_COMPRESSION_SHIFTED,
  Z_EROFS_EXTENT_PLEN_FMT_BIT,
  Z_EROFS_EXTENT_PLEN_MASK,
  Z_EROFS_EXTENT_PLEN_PARTIAL,
  Z_EXTENT,
  roundDown,
  roundUp,
} from './format.js';
import type { ErofsInode } from './inode.js';
import type { ZExtent } from './zmap-extent.js';

/** What the map header says about an extent-record inode. */
export interface ExtentHeader {
  advise: number;
  lclusterbits: number;
  /** `h_extents_lo | h_extents_hi << 32`. */
  extents: number;
  /** Offset of the map header. */
  pos: number;
  /** For 4-byte records: the last position reached, so sequential reads do not rescan from 0. */
  memo?: { lstart: number; pos: number; pa: number };
}

/** The extent containing `la`. */
export async function mapExtentRecords(
  ctx: ErofsContext,
  inode: ErofsInode,
  h: ExtentHeader,
  la: number,
  options?: ReadOptions,
): Promise<ZExtent> {
  const recsz = 4 << ((h.advise >> Z_EROFS_ADVISE_EXTRECSZ_BIT) & Z_EROFS_ADVISE_EXTRECSZ_MASK);
  let pos = roundUp(h.pos + MAP_HEADER.size, recsz);
  const lcsize = 2 ** h.lclusterbits;
  const nid = inode.nid;
  let lend = inode.size;
  let lstart: number;
  let plen = 0;
  let pa = 0;
  let last: boolean;
  const rd = async (at: number, n: number) => {
    const b = await readMeta(ctx, inode.inMetabox, at, n, options);
    return new DataView(b.buffer, b.byteOffset, n);
  };
  if (recsz <= Z_EXTENT.pstart_hi) {
    // One record per lcluster.
    let acc: number | undefined;
    // Every record up to la's must lie in the metadata: refuse before walking (a corrupt size
    // could otherwise mean billions of steps).
    const space = inode.inMetabox ? (ctx.mbox?.source.size ?? 0) : ctx.source.size;
    if (pos + 8 + (Math.floor(la / lcsize) + 1) * recsz > space) {
      throw new CorruptErofsError(`extent records for offset ${la} run past the metadata`, { nid, la });
    }
    if (recsz <= Z_EXTENT.pstart_lo) {
      // plen only: physical addresses accumulate from a 64-bit start.
      const start = roundDown(la, lcsize);
      if (h.memo && h.memo.lstart <= start) {
        ({ lstart, pos, pa: acc } = h.memo);
      } else {
        const dv = await rd(pos, 8);
        const v = dv.getBigUint64(0, true);
        if (v > BigInt(Number.MAX_SAFE_INTEGER))
          throw new CorruptErofsError(`extent start ${v} is out of range`, { nid });
        acc = Number(v);
        pos += 8;
        lstart = 0;
      }
    } else {
      lstart = roundDown(la, lcsize);
      pos += (lstart / lcsize) * recsz;
    }
    for (; lstart <= la; lstart += lcsize) {
      const dv = await rd(pos, recsz);
      plen = dv.getUint32(Z_EXTENT.plen, true);
      if (acc !== undefined) {
        // Remember where the record of la's lcluster is, so the next (later) la starts there.
        if (lstart + lcsize > la) h.memo = { lstart, pos, pa: acc };
        pa = acc;
        acc += plen & Z_EROFS_EXTENT_PLEN_MASK;
      } else {
        pa = dv.getUint32(Z_EXTENT.pstart_lo, true);
      }
      pos += recsz;
    }
    last = lstart >= roundUp(lend, lcsize);
    lend = Math.min(lstart, lend);
    lstart -= lcsize;
  } else {
    lstart = lend;
    let l = 0;
    let r = h.extents;
    let steps = 0;
    while (l < r) {
      if (++steps > 64) throw new CorruptErofsError('extent binary search does not converge', { nid, la });
      const mid = l + Math.floor((r - l) / 2);
      const dv = await rd(pos + mid * recsz, recsz);
      let ela = dv.getUint32(Z_EXTENT.lstart_lo, true);
      const epa = dv.getUint32(Z_EXTENT.pstart_lo, true) + dv.getUint32(Z_EXTENT.pstart_hi, true) * 2 ** 32;
      if (recsz > Z_EXTENT.lstart_hi) ela += dv.getUint32(Z_EXTENT.lstart_hi, true) * 2 ** 32;
      if (ela > la) {
        r = mid;
        if (ela > lend) throw new CorruptErofsError(`extent ${mid} starts at ${ela}, past ${lend}`, { nid, la });
        lend = ela;
      } else {
        l = mid + 1;
        if (la === ela) r = Math.min(l + 1, r);
        lstart = ela;
        plen = dv.getUint32(Z_EXTENT.plen, true);
        pa = epa;
      }
    }
    last = l >= h.extents;
  }
  if (!(lstart < lend)) return { kind: 'hole', la, llen: lend - la };
  if (last && h.advise & Z_EROFS_ADVISE_FRAGMENT_PCLUSTER) {
    // The tail lives in the packed inode; the record holds its offset (high half in pstart).
    const fragmentOff = plen + (recsz > Z_EXTENT.pstart_lo ? pa * 2 ** 32 : 0);
    if (!Number.isSafeInteger(fragmentOff)) throw new CorruptErofsError('fragment offset out of range', { nid, la });
    return { kind: 'fragment', la: lstart, llen: lend - lstart, fragmentOff };
  }
  const len = plen & Z_EROFS_EXTENT_PLEN_MASK;
  if (!len) return { kind: 'hole', la: lstart, llen: lend - lstart };
  const fmt = plen >>> Z_EROFS_EXTENT_PLEN_FMT_BIT;
  const bmask = ctx.sb.blockSize - 1;
  const interlaced = (h.advise & Z_EROFS_ADVISE_INTERLACED_PCLUSTER) !== 0;
  const alg = fmt
    ? fmt - 1
    : interlaced && pa % (bmask + 1) === 0 && (len & bmask) === 0
      ? Z_EROFS_COMPRESSION_INTERLACED
      : Z_EROFS_COMPRESSION_SHIFTED;
  return {
    kind: 'encoded',
    la: lstart,
    llen: lend - lstart,
    pa,
    plen: len,
    alg,
    partialRef: (plen & Z_EROFS_EXTENT_PLEN_PARTIAL) !== 0,
  };
}
