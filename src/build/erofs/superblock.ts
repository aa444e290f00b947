/**
 * Block 0 of an EROFS image: `struct erofs_super_block` at byte 1024 (with its crc32c), and
 * after it the compression configurations (`struct z_erofs_lz4_cfgs`,
 * `struct z_erofs_deflate_cfgs`) of the algorithms the image uses.
 *
 * @packageDocumentation
 */
import { crc32cUpdate } from '../../erofs/crc32c.js';
import {
  EROFS_FEATURE_COMPAT_SB_CHKSUM,
  EROFS_FEATURE_INCOMPAT_BIG_PCLUSTER,
  EROFS_SUPER_MAGIC_V1,
  EROFS_SUPER_OFFSET,
  SB,
  Z_EROFS_COMPRESSION_DEFLATE,
  Z_EROFS_COMPRESSION_LZ4,
  roundUp,
} from '../../erofs/format.js';
import { CLUSTER_BLOCKS, DEFLATE_WINDOW_BITS } from './compress.js';

/** What the superblock says. */
export interface SuperblockFields {
  rootNid: number;
  inodes: number;
  /** Base mtime of compact inodes (seconds, nanoseconds). */
  epoch: number;
  fixedNsec: number;
  blocks: number;
  metaBlkaddr: number;
  /** `feature_incompat` bits. */
  features: number;
  /** Bitmap of `Z_EROFS_COMPRESSION_*` algorithms used (with big pclusters). */
  algs: number;
  uuid: Uint8Array;
}

/** The first block of the image. */
export function encodeSuperblock(bs: number, s: SuperblockFields): Uint8Array {
  const block = new Uint8Array(bs);
  const dv = new DataView(block.buffer, EROFS_SUPER_OFFSET);
  dv.setUint32(SB.magic, EROFS_SUPER_MAGIC_V1, true);
  dv.setUint32(SB.feature_compat, EROFS_FEATURE_COMPAT_SB_CHKSUM, true);
  dv.setUint8(SB.blkszbits, Math.log2(bs));
  dv.setUint16(SB.rootnid_2b, s.rootNid, true);
  dv.setBigUint64(SB.inos, BigInt(s.inodes), true);
  dv.setBigInt64(SB.epoch, BigInt(s.epoch), true);
  dv.setUint32(SB.fixed_nsec, s.fixedNsec, true);
  dv.setUint32(SB.blocks_lo, s.blocks, true);
  dv.setUint32(SB.meta_blkaddr, s.metaBlkaddr, true);
  block.set(s.uuid, EROFS_SUPER_OFFSET + SB.uuid);
  dv.setUint32(SB.feature_incompat, s.features, true);
  if (s.features & EROFS_FEATURE_INCOMPAT_BIG_PCLUSTER) {
    dv.setUint16(SB.available_compr_algs, s.algs, true);
    // Compression configurations follow the 128-byte superblock, 4-byte aligned.
    let p = EROFS_SUPER_OFFSET + SB.baseSize;
    const put = (cfg: Uint8Array) => {
      p = roundUp(p, 4);
      new DataView(block.buffer).setUint16(p, cfg.length, true);
      block.set(cfg, p + 2);
      p += 2 + cfg.length;
    };
    if (s.algs & (1 << Z_EROFS_COMPRESSION_LZ4)) {
      const cfg = new Uint8Array(14); // z_erofs_lz4_cfgs
      new DataView(cfg.buffer).setUint16(0, 65535, true); // max_distance
      new DataView(cfg.buffer).setUint16(2, CLUSTER_BLOCKS, true); // max_pclusterblks
      put(cfg);
    }
    if (s.algs & (1 << Z_EROFS_COMPRESSION_DEFLATE)) {
      const cfg = new Uint8Array(6); // z_erofs_deflate_cfgs
      cfg[0] = DEFLATE_WINDOW_BITS;
      put(cfg);
    }
  }
  // crc32c over the superblock's block from offset 1024, with the checksum field zero.
  dv.setUint32(SB.checksum, crc32cUpdate(0xffffffff, block.subarray(EROFS_SUPER_OFFSET)), true);
  return block;
}
