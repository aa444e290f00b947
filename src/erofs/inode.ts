/**
 * On-disk inodes: `struct erofs_inode_compact` (32 bytes) and `struct erofs_inode_extended`
 * (64 bytes), parsed and checked as the kernel's `erofs_read_inode` does.
 *
 * @packageDocumentation
 */
import type { ReadOptions } from '../io/byte-source.js';
import type { FileType, Inode } from '../vfs/types.js';
import { inodeLocation, inoToNid, peekMeta, readMeta, type ErofsContext } from './context.js';
import { CorruptErofsError, UnsupportedErofsError } from './errors.js';
import {
  DATALAYOUT_NAMES,
  DIC,
  DIE,
  EROFS_CHUNK_FORMAT_ALL,
  EROFS_CHUNK_FORMAT_BLKBITS_MASK,
  EROFS_I_ALL,
  EROFS_I_DATALAYOUT_BIT,
  EROFS_I_DATALAYOUT_MASK,
  EROFS_I_NLINK_1_BIT,
  EROFS_I_VERSION_BIT,
  EROFS_I_VERSION_MASK,
  EROFS_INODE_CHUNK_BASED,
  EROFS_INODE_COMPRESSED_COMPACT,
  EROFS_INODE_COMPRESSED_FULL,
  EROFS_INODE_DATALAYOUT_MAX,
  EROFS_INODE_FLAT_PLAIN,
  XATTR_IBODY_HEADER_SIZE,
} from './format.js';

/** EROFS-specific facts about an inode, for `ocifs stat` and the data readers. */
export interface ErofsInodeDetails {
  /** The on-disk nid (bit 63 set for inodes in the metabox), as a decimal string. */
  nid: string;
  /** 'compact' (32-byte) or 'extended' (64-byte) inode. */
  version: 'compact' | 'extended';
  /** Data layout name (`EROFS_INODE_*`). */
  layout: (typeof DATALAYOUT_NAMES)[number];
  /** Bytes of the inline xattr region (`erofs_xattr_ibody_size`). */
  xattrSize: number;
  /** For compressed inodes, `i_u.blocks` (physical blocks); else the blocks the data spans. */
  blocks: number;
  /** Start block of flat data, or null when the file is a hole / fully inline / not flat. */
  startBlock: number | null;
  /** Chunk size in bytes for chunk-based inodes. */
  chunkSize?: number;
  /** `i_ino`: the 32-bit inode number mkfs recorded for 32-bit stat compatibility. */
  i_ino: number;
}

/** A parsed inode: the vfs {@link Inode} plus what the readers need. */
export interface ErofsInode extends Inode {
  readonly nid: bigint;
  readonly inMetabox: boolean;
  /** Byte offset of the on-disk inode in the image (or the metabox). */
  readonly iloc: number;
  /** 32 or 64. */
  readonly inodeSize: number;
  /** Bytes of the inline xattr region, 0 when none. */
  readonly xattrIsize: number;
  /** `EROFS_INODE_*` data layout. */
  readonly datalayout: number;
  /** Start block of flat data; -1 for `EROFS_NULL_ADDR` (a hole). */
  readonly startBlk: number;
  /** `i_u` as stored (blocks count of compressed inodes, chunk format ...). */
  readonly iu: number;
  /** 48-bit high part of `i_nb` (blocks_hi / startblk_hi) when it is not nlink, else 0. */
  readonly nbHi: number;
  /** Chunk size bits (`blkszbits + chunkformat & 0x1f`) of chunk-based inodes. */
  readonly chunkBits: number;
  /** `i_u.c.format` of chunk-based inodes. */
  readonly chunkFormat: number;
  /** Byte offset just past the inode and its xattrs: where inline data / indexes start. */
  readonly idataOff: number;
  /** `i_ino` field. */
  readonly iIno: number;
}

const TYPE_OF_MODE: Record<number, FileType> = {
  0o140000: 'socket',
  0o120000: 'symlink',
  0o100000: 'file',
  0o060000: 'blockdev',
  0o040000: 'dir',
  0o020000: 'chardev',
  0o010000: 'fifo',
};

/** Reads and validates the inode with vfs number `ino`. */
export async function readInode(ctx: ErofsContext, ino: number, options?: ReadOptions): Promise<ErofsInode> {
  const nid = inoToNid(ino);
  const { inMetabox, iloc } = inodeLocation(ctx, ino);
  const space = inMetabox ? (ctx.mbox?.source.size ?? 0) : ctx.source.size;
  if (iloc + DIC.size > space)
    throw new CorruptErofsError(`inode at ${iloc} lies outside the ${inMetabox ? 'metabox' : 'image'}`, { nid });
  // Read up to an extended inode at once (one page-cache view in the common case).
  const headLen = Math.min(DIE.size, space - iloc);
  const head = peekMeta(ctx, inMetabox, iloc, headLen) ?? (await readMeta(ctx, inMetabox, iloc, headLen, options));
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const ifmt = dv.getUint16(DIC.i_format, true);
  if (ifmt & ~EROFS_I_ALL) throw new UnsupportedErofsError(`i_format 0x${ifmt.toString(16)} has unknown bits`, { nid });
  const datalayout = (ifmt >> EROFS_I_DATALAYOUT_BIT) & EROFS_I_DATALAYOUT_MASK;
  if (datalayout >= EROFS_INODE_DATALAYOUT_MAX) throw new UnsupportedErofsError(`data layout ${datalayout}`, { nid });
  const extended = ((ifmt >> EROFS_I_VERSION_BIT) & EROFS_I_VERSION_MASK) === 1;
  if (extended && head.length < DIE.size)
    throw new CorruptErofsError('extended inode runs past the end of the image', { nid });
  const icount = dv.getUint16(DIC.i_xattr_icount, true);
  const xattrIsize = icount === 0 ? 0 : XATTR_IBODY_HEADER_SIZE + 4 * (icount - 1);
  const mode = dv.getUint16(DIC.i_mode, true);
  const type = TYPE_OF_MODE[mode & 0o170000];
  if (type === undefined) throw new CorruptErofsError(`bogus i_mode 0o${mode.toString(8)}`, { nid });
  const nb = dv.getUint16(DIC.i_nb, true);
  const iu = dv.getUint32(DIC.i_u, true);

  let size: number;
  let uid: number;
  let gid: number;
  let nlink: number;
  let mtimeSec: number;
  let mtimeNsec: number;
  let nbHi = 0;
  if (extended) {
    const size64 = dv.getBigUint64(DIE.i_size, true);
    if (size64 > BigInt(Number.MAX_SAFE_INTEGER))
      throw new CorruptErofsError(`i_size ${size64} is out of range`, { nid });
    size = Number(size64);
    uid = dv.getUint32(DIE.i_uid, true);
    gid = dv.getUint32(DIE.i_gid, true);
    nlink = dv.getUint32(DIE.i_nlink, true);
    const mt = dv.getBigInt64(DIE.i_mtime, true);
    if (mt > BigInt(Number.MAX_SAFE_INTEGER) || mt < BigInt(Number.MIN_SAFE_INTEGER))
      throw new CorruptErofsError(`i_mtime ${mt} is out of range`, { nid });
    mtimeSec = Number(mt);
    mtimeNsec = dv.getUint32(DIE.i_mtime_nsec, true);
    nbHi = nb;
  } else {
    size = dv.getUint32(DIC.i_size, true);
    uid = dv.getUint16(DIC.i_uid, true);
    gid = dv.getUint16(DIC.i_gid, true);
    if (type !== 'dir' && (ifmt >> EROFS_I_NLINK_1_BIT) & 1) {
      nlink = 1;
      nbHi = nb;
    } else {
      nlink = nb;
    }
    mtimeSec = ctx.sb.epoch + dv.getUint32(DIC.i_mtime, true);
    mtimeNsec = ctx.sb.fixedNsec;
  }
  if (mtimeNsec >= 1e9) mtimeNsec = 0; // a bad nsec must not make Date or utimes throw later

  const inodeSize = extended ? DIE.size : DIC.size;
  const idataOff = iloc + inodeSize + xattrIsize;
  if (idataOff > space)
    throw new CorruptErofsError(
      `xattrs of ${xattrIsize} bytes run past the end of the ${inMetabox ? 'metabox' : 'image'}`,
      { nid },
    );

  let startBlk = -1;
  let rdev = 0;
  let chunkBits = 0;
  let chunkFormat = 0;
  if (type === 'file' || type === 'dir' || type === 'symlink') {
    startBlk = iu + nbHi * 2 ** 32;
    // EROFS_NULL_ADDR in as many bits as the address has: 48 when i_nb holds startblk_hi.
    const wide = extended || (type !== 'dir' && ((ifmt >> EROFS_I_NLINK_1_BIT) & 1) === 1);
    if (datalayout === EROFS_INODE_FLAT_PLAIN && startBlk === (wide ? 2 ** 48 - 1 : 2 ** 32 - 1)) startBlk = -1;
  } else if (type === 'chardev' || type === 'blockdev') {
    // EROFS stores new_encode_dev(rdev), which for 32-bit device numbers is exactly the
    // st_rdev value userspace sees.
    rdev = iu;
  }
  if (datalayout === EROFS_INODE_CHUNK_BASED) {
    chunkFormat = iu & 0xffff;
    if (chunkFormat & ~EROFS_CHUNK_FORMAT_ALL)
      throw new UnsupportedErofsError(`chunk format 0x${chunkFormat.toString(16)}`, { nid });
    chunkBits = ctx.sb.blkszbits + (chunkFormat & EROFS_CHUNK_FORMAT_BLKBITS_MASK);
  }

  return {
    ino,
    type,
    mode,
    uid,
    gid,
    size,
    mtimeSec,
    mtimeNsec,
    nlink,
    rdev,
    nid,
    inMetabox,
    iloc,
    inodeSize,
    xattrIsize,
    datalayout,
    startBlk,
    iu,
    nbHi,
    chunkBits,
    chunkFormat,
    idataOff,
    iIno: dv.getUint32(DIC.i_ino, true),
  };
}

/** True for the two compressed layouts. */
export function isCompressed(inode: ErofsInode): boolean {
  return inode.datalayout === EROFS_INODE_COMPRESSED_FULL || inode.datalayout === EROFS_INODE_COMPRESSED_COMPACT;
}

/** The details `ocifs stat` shows for an inode. */
export function inodeDetails(ctx: ErofsContext, inode: ErofsInode): ErofsInodeDetails {
  const bs = ctx.sb.blockSize;
  const flat = inode.datalayout === EROFS_INODE_FLAT_PLAIN || inode.datalayout === 2;
  const details: ErofsInodeDetails = {
    nid: inode.nid.toString(),
    version: inode.inodeSize === DIE.size ? 'extended' : 'compact',
    layout: DATALAYOUT_NAMES[inode.datalayout],
    xattrSize: inode.xattrIsize,
    blocks: isCompressed(inode) ? inode.iu + inode.nbHi * 2 ** 32 : Math.ceil(inode.size / bs),
    startBlock:
      flat && inode.startBlk >= 0 && (inode.datalayout === EROFS_INODE_FLAT_PLAIN || inode.size > bs)
        ? inode.startBlk
        : null,
    i_ino: inode.iIno,
  };
  if (inode.datalayout === EROFS_INODE_CHUNK_BASED) details.chunkSize = 2 ** inode.chunkBits;
  return details;
}
