/**
 * Where the bytes of an uncompressed inode are: flat layouts (`EROFS_INODE_FLAT_PLAIN`,
 * `EROFS_INODE_FLAT_INLINE`, data in consecutive blocks plus an inline tail) and chunk-based
 * layouts (`EROFS_INODE_CHUNK_BASED`: a 4-byte block map or 8-byte `struct
 * erofs_inode_chunk_index` per chunk, with device ids and null chunks). Follows erofs-utils'
 * `__erofs_map_blocks` and the kernel's `erofs_map_blocks`.
 *
 * @packageDocumentation
 */
import type { ReadOptions } from '../io/byte-source.js';
import { peekMeta, readMeta, type ErofsContext } from './context.js';
import { CorruptErofsError } from './errors.js';
import {
  CHUNK_INDEX,
  EROFS_BLOCK_MAP_ENTRY_SIZE,
  EROFS_CHUNK_FORMAT_48BIT,
  EROFS_CHUNK_FORMAT_INDEXES,
  EROFS_CHUNK_INDEX_SIZE,
  EROFS_INODE_CHUNK_BASED,
  EROFS_INODE_FLAT_INLINE,
  EROFS_NULL_ADDR_32,
  roundUp,
} from './format.js';
import type { ErofsInode } from './inode.js';

/** A piece of an uncompressed file: zeros, bytes on a device, or bytes in the metadata (inline tail). */
export type RawExtent =
  | { kind: 'hole'; la: number; length: number }
  | { kind: 'data'; la: number; length: number; deviceId: number; pa: number }
  | { kind: 'inline'; la: number; length: number; pos: number };

/**
 * The extents covering `[offset, offset + length)` of `inode` (which must be uncompressed and
 * the range inside its size), in order, adjacent device ranges merged.
 */
export async function mapRaw(
  ctx: ErofsContext,
  inode: ErofsInode,
  offset: number,
  length: number,
  options?: ReadOptions,
): Promise<RawExtent[]> {
  if (length === 0) return [];
  if (inode.datalayout === EROFS_INODE_CHUNK_BASED) return mapChunked(ctx, inode, offset, length, options);
  return mapFlat(ctx, inode, offset, length);
}

function mapFlat(ctx: ErofsContext, inode: ErofsInode, offset: number, length: number): RawExtent[] {
  const bs = ctx.sb.blockSize;
  const end = offset + length;
  const inline = inode.datalayout === EROFS_INODE_FLAT_INLINE;
  // With tail packing the last (partial) block lives right after the inode and its xattrs.
  const tailStart = inline ? (Math.ceil(inode.size / bs) - 1) * bs : inode.size;
  const out: RawExtent[] = [];
  if (offset < tailStart) {
    const n = Math.min(end, tailStart) - offset;
    if (inode.startBlk < 0) out.push({ kind: 'hole', la: offset, length: n });
    else out.push({ kind: 'data', la: offset, length: n, deviceId: 0, pa: inode.startBlk * bs + offset });
  }
  if (end > tailStart) {
    const tailLen = inode.size - tailStart;
    // The kernel refuses inline data that crosses a block boundary.
    if ((inode.idataOff % bs) + tailLen > bs) {
      throw new CorruptErofsError(`inline data of ${tailLen} bytes crosses a block boundary`, {
        nid: inode.nid,
        offset: inode.idataOff,
      });
    }
    const from = Math.max(offset, tailStart);
    out.push({ kind: 'inline', la: from, length: end - from, pos: inode.idataOff + (from - tailStart) });
  }
  return out;
}

async function mapChunked(
  ctx: ErofsContext,
  inode: ErofsInode,
  offset: number,
  length: number,
  options?: ReadOptions,
): Promise<RawExtent[]> {
  const bs = ctx.sb.blockSize;
  const indexes = (inode.chunkFormat & EROFS_CHUNK_FORMAT_INDEXES) !== 0;
  const unit = indexes ? EROFS_CHUNK_INDEX_SIZE : EROFS_BLOCK_MAP_ENTRY_SIZE;
  const chunkSize = 2 ** inode.chunkBits;
  const first = Math.floor(offset / chunkSize);
  const last = Math.floor((offset + length - 1) / chunkSize);
  const base = roundUp(inode.idataOff, unit);
  // One read for every index the range needs.
  const tpos = base + first * unit;
  const tlen = (last - first + 1) * unit;
  const table =
    peekMeta(ctx, inode.inMetabox, tpos, tlen) ?? (await readMeta(ctx, inode.inMetabox, tpos, tlen, options));
  const dv = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const wide = (inode.chunkFormat & EROFS_CHUNK_FORMAT_48BIT) !== 0;
  const deviceMask = deviceIdMask(ctx.sb.extraDevices);
  const out: RawExtent[] = [];
  const end = offset + length;
  for (let c = first; c <= last; c++) {
    const o = (c - first) * unit;
    const cstart = c * chunkSize;
    const from = Math.max(offset, cstart);
    const to = Math.min(end, cstart + chunkSize);
    let blk: number;
    let deviceId = 0;
    let isNull: boolean;
    if (indexes) {
      const lo = dv.getUint32(o + CHUNK_INDEX.startblk_lo, true);
      const hi = wide ? dv.getUint16(o + CHUNK_INDEX.startblk_hi, true) : 0;
      blk = lo + hi * 2 ** 32;
      isNull = blk === (wide ? 2 ** 48 - 1 : EROFS_NULL_ADDR_32);
      deviceId = dv.getUint16(o + CHUNK_INDEX.device_id, true) & deviceMask;
    } else {
      blk = dv.getUint32(o, true);
      isNull = blk === EROFS_NULL_ADDR_32;
    }
    const prev = out[out.length - 1];
    if (isNull) {
      if (prev?.kind === 'hole') prev.length += to - from;
      else out.push({ kind: 'hole', la: from, length: to - from });
      continue;
    }
    const pa = blk * bs + (from - cstart);
    if (prev?.kind === 'data' && prev.deviceId === deviceId && prev.pa + prev.length === pa) prev.length += to - from;
    else out.push({ kind: 'data', la: from, length: to - from, deviceId, pa });
  }
  return out;
}

/** `device_id_mask`: roundup_pow_of_two(extra_devices + 1) - 1. */
function deviceIdMask(extra: number): number {
  let p = 1;
  while (p < extra + 1) p *= 2;
  return p - 1;
}
