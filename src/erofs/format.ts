/**
 * EROFS on-disk constants and field offsets, named as in erofs-utils' `include/erofs_fs.h`
 * (the same file as the kernel's `fs/erofs/erofs_fs.h`). Only numbers live here; the parsers
 * that use them are in superblock.ts, inode.ts, dir.ts, xattr.ts, zmap.ts and chunk-map.ts.
 *
 * @packageDocumentation
 */

/** `EROFS_SUPER_MAGIC_V1`. */
export const EROFS_SUPER_MAGIC_V1 = 0xe0f5e1e2;
/** `EROFS_SUPER_OFFSET`: the superblock starts 1024 bytes in (room for x86 boot sectors). */
export const EROFS_SUPER_OFFSET = 1024;
/** `EROFS_SB_EXTSLOT_SIZE`: superblock size = 128 + sb_extslots * 16. */
export const EROFS_SB_EXTSLOT_SIZE = 16;
/** Smallest and largest block size bits the reader accepts (512 B – 64 KiB). */
export const EROFS_MIN_BLKSZBITS = 9;
export const EROFS_MAX_BLKSZBITS = 16;

// feature_compat (`EROFS_FEATURE_COMPAT_*`)
export const EROFS_FEATURE_COMPAT_SB_CHKSUM = 0x01;
export const EROFS_FEATURE_COMPAT_MTIME = 0x02;
export const EROFS_FEATURE_COMPAT_XATTR_FILTER = 0x04;
export const EROFS_FEATURE_COMPAT_SHARED_EA_IN_METABOX = 0x08;
export const EROFS_FEATURE_COMPAT_PLAIN_XATTR_PFX = 0x10;
export const EROFS_FEATURE_COMPAT_ISHARE_XATTRS = 0x20;

// feature_incompat (`EROFS_FEATURE_INCOMPAT_*`); several names share a bit on purpose.
export const EROFS_FEATURE_INCOMPAT_ZERO_PADDING = 0x01; // a.k.a. LZ4_0PADDING
export const EROFS_FEATURE_INCOMPAT_COMPR_CFGS = 0x02;
export const EROFS_FEATURE_INCOMPAT_BIG_PCLUSTER = 0x02;
export const EROFS_FEATURE_INCOMPAT_CHUNKED_FILE = 0x04;
export const EROFS_FEATURE_INCOMPAT_DEVICE_TABLE = 0x08;
export const EROFS_FEATURE_INCOMPAT_COMPR_HEAD2 = 0x08;
export const EROFS_FEATURE_INCOMPAT_ZTAILPACKING = 0x10;
export const EROFS_FEATURE_INCOMPAT_FRAGMENTS = 0x20;
export const EROFS_FEATURE_INCOMPAT_DEDUPE = 0x20;
export const EROFS_FEATURE_INCOMPAT_XATTR_PREFIXES = 0x40;
export const EROFS_FEATURE_INCOMPAT_48BIT = 0x80;
export const EROFS_FEATURE_INCOMPAT_METABOX = 0x100;
/** `EROFS_ALL_FEATURE_INCOMPAT`: every bit the reader understands. */
export const EROFS_ALL_FEATURE_INCOMPAT = (EROFS_FEATURE_INCOMPAT_METABOX << 1) - 1;

/** Names of compat feature bits, as `dump.erofs -s` prints them. */
export const COMPAT_FEATURE_NAMES: ReadonlyArray<readonly [number, string]> = [
  [EROFS_FEATURE_COMPAT_SB_CHKSUM, 'sb_csum'],
  [EROFS_FEATURE_COMPAT_MTIME, 'mtime'],
  [EROFS_FEATURE_COMPAT_XATTR_FILTER, 'xattr_filter'],
  [EROFS_FEATURE_COMPAT_SHARED_EA_IN_METABOX, 'shared_ea_in_metabox'],
  [EROFS_FEATURE_COMPAT_PLAIN_XATTR_PFX, 'plain_xattr_pfx'],
  [EROFS_FEATURE_COMPAT_ISHARE_XATTRS, 'ishare_xattrs'],
];

/** Names of incompat feature bits, as `dump.erofs -s` prints them (shared bits print both names). */
export const INCOMPAT_FEATURE_NAMES: ReadonlyArray<readonly [number, string]> = [
  [EROFS_FEATURE_INCOMPAT_ZERO_PADDING, 'lz4_0padding'],
  [EROFS_FEATURE_INCOMPAT_COMPR_CFGS, 'compr_cfgs'],
  [EROFS_FEATURE_INCOMPAT_BIG_PCLUSTER, 'big_pcluster'],
  [EROFS_FEATURE_INCOMPAT_CHUNKED_FILE, 'chunked_file'],
  [EROFS_FEATURE_INCOMPAT_DEVICE_TABLE, 'device_table'],
  [EROFS_FEATURE_INCOMPAT_ZTAILPACKING, 'ztailpacking'],
  [EROFS_FEATURE_INCOMPAT_FRAGMENTS, 'fragments'],
  [EROFS_FEATURE_INCOMPAT_DEDUPE, 'dedupe'],
  [EROFS_FEATURE_INCOMPAT_XATTR_PREFIXES, 'xattr_prefixes'],
  [EROFS_FEATURE_INCOMPAT_48BIT, '48bit'],
  [EROFS_FEATURE_INCOMPAT_METABOX, 'metabox'],
];

/** `struct erofs_super_block` field offsets (relative to EROFS_SUPER_OFFSET); 144 bytes in all. */
export const SB = {
  magic: 0x00,
  checksum: 0x04,
  feature_compat: 0x08,
  blkszbits: 0x0c,
  sb_extslots: 0x0d,
  rootnid_2b: 0x0e, // union with blocks_hi (48BIT)
  inos: 0x10,
  epoch: 0x18,
  fixed_nsec: 0x20,
  blocks_lo: 0x24,
  meta_blkaddr: 0x28,
  xattr_blkaddr: 0x2c,
  uuid: 0x30,
  volume_name: 0x40,
  feature_incompat: 0x50,
  available_compr_algs: 0x54, // union with lz4_max_distance
  extra_devices: 0x56,
  devt_slotoff: 0x58,
  dirblkbits: 0x5a,
  xattr_prefix_count: 0x5b,
  xattr_prefix_start: 0x5c,
  packed_nid: 0x60,
  xattr_filter_reserved: 0x68,
  ishare_xattr_prefix_id: 0x69,
  build_time: 0x6c,
  rootnid_8b: 0x70,
  metabox_nid: 0x80,
  size: 144,
  baseSize: 128,
} as const;

/** `struct erofs_deviceslot`: 128 bytes. */
export const EROFS_DEVT_SLOT_SIZE = 128;
export const DEVSLOT = { tag: 0, blocks_lo: 64, uniaddr_lo: 68, blocks_hi: 72, uniaddr_hi: 74 } as const;

/** Inode slots are 32 bytes (`EROFS_ISLOTBITS`). */
export const EROFS_ISLOTBITS = 5;
/** `EROFS_DIRENT_NID_METABOX_BIT`: bit 63 of a nid says the inode lives in the metabox. */
export const EROFS_DIRENT_NID_METABOX_BIT = 63n;
export const EROFS_DIRENT_NID_MASK = (1n << EROFS_DIRENT_NID_METABOX_BIT) - 1n;

// i_format bits
export const EROFS_I_VERSION_BIT = 0;
export const EROFS_I_VERSION_MASK = 0x01;
export const EROFS_I_DATALAYOUT_BIT = 1;
export const EROFS_I_DATALAYOUT_MASK = 0x07;
export const EROFS_I_NLINK_1_BIT = 4;
export const EROFS_I_DOT_OMITTED_BIT = 4;
export const EROFS_I_ALL = (1 << (EROFS_I_NLINK_1_BIT + 1)) - 1;

/** Data layouts (`i_format` bits 1–3). */
export const EROFS_INODE_FLAT_PLAIN = 0;
export const EROFS_INODE_COMPRESSED_FULL = 1;
export const EROFS_INODE_FLAT_INLINE = 2;
export const EROFS_INODE_COMPRESSED_COMPACT = 3;
export const EROFS_INODE_CHUNK_BASED = 4;
export const EROFS_INODE_DATALAYOUT_MAX = 5;
export const DATALAYOUT_NAMES = [
  'flat-plain',
  'compressed-full',
  'flat-inline',
  'compressed-compact',
  'chunk-based',
] as const;

/** `struct erofs_inode_compact` (32 bytes) field offsets. */
export const DIC = {
  i_format: 0,
  i_xattr_icount: 2,
  i_mode: 4,
  i_nb: 6,
  i_size: 8,
  i_mtime: 12,
  i_u: 16,
  i_ino: 20,
  i_uid: 24,
  i_gid: 26,
  size: 32,
} as const;

/** `struct erofs_inode_extended` (64 bytes) field offsets. */
export const DIE = {
  i_format: 0,
  i_xattr_icount: 2,
  i_mode: 4,
  i_nb: 6,
  i_size: 8,
  i_u: 16,
  i_ino: 20,
  i_uid: 24,
  i_gid: 28,
  i_mtime: 32,
  i_mtime_nsec: 40,
  i_nlink: 44,
  size: 64,
} as const;

// chunk format (`struct erofs_inode_chunk_info`.format)
export const EROFS_CHUNK_FORMAT_BLKBITS_MASK = 0x001f;
export const EROFS_CHUNK_FORMAT_INDEXES = 0x0020;
export const EROFS_CHUNK_FORMAT_48BIT = 0x0040;
export const EROFS_CHUNK_FORMAT_ALL = (EROFS_CHUNK_FORMAT_48BIT << 1) - 1;
/** `EROFS_BLOCK_MAP_ENTRY_SIZE` and `sizeof(struct erofs_inode_chunk_index)`. */
export const EROFS_BLOCK_MAP_ENTRY_SIZE = 4;
export const EROFS_CHUNK_INDEX_SIZE = 8;
/** `struct erofs_inode_chunk_index` field offsets. */
export const CHUNK_INDEX = { startblk_hi: 0, device_id: 2, startblk_lo: 4 } as const;

/** `struct erofs_xattr_ibody_header` is 12 bytes; entries (`struct erofs_xattr_entry`) have a 4-byte head. */
export const XATTR_IBODY_HEADER_SIZE = 12;
export const XATTR_IBODY = { h_name_filter: 0, h_shared_count: 4, h_shared_xattrs: 12 } as const;
export const XATTR_ENTRY = { e_name_len: 0, e_name_index: 1, e_value_size: 2, e_name: 4 } as const;
export const XATTR_ENTRY_SIZE = 4;
/** Bit 7 of e_name_index selects a long prefix; the low bits are its index. */
export const EROFS_XATTR_LONG_PREFIX = 0x80;
export const EROFS_XATTR_LONG_PREFIX_MASK = 0x7f;
/**
 * Short name prefixes by `e_name_index` (`EROFS_XATTR_INDEX_*`). Index 5 (lustre) has no
 * handler in the kernel or erofs-utils, so, like them, the reader skips such entries.
 */
export const XATTR_PREFIXES: ReadonlyArray<string | undefined> = [
  undefined,
  'user.',
  'system.posix_acl_access',
  'system.posix_acl_default',
  'trusted.',
  undefined,
  'security.',
];

/** `struct erofs_dirent` (12 bytes). */
export const DIRENT = { nid: 0, nameoff: 8, file_type: 10, size: 12 } as const;
export const EROFS_NAME_LEN = 255;
export const EROFS_FT_UNKNOWN = 0;
export const EROFS_FT_REG_FILE = 1;
export const EROFS_FT_DIR = 2;
export const EROFS_FT_CHRDEV = 3;
export const EROFS_FT_BLKDEV = 4;
export const EROFS_FT_FIFO = 5;
export const EROFS_FT_SOCK = 6;
export const EROFS_FT_SYMLINK = 7;
export const EROFS_FT_MAX = 8;

/** `EROFS_NULL_ADDR` in its 32-bit form (block maps). */
export const EROFS_NULL_ADDR_32 = 0xffffffff;

// Compression
/** `Z_EROFS_PCLUSTER_MAX_SIZE` and `Z_EROFS_PCLUSTER_MAX_DSIZE`: caps on encoded/decoded cluster sizes. */
export const Z_EROFS_PCLUSTER_MAX_SIZE = 1024 * 1024;
export const Z_EROFS_PCLUSTER_MAX_DSIZE = 12 * 1024 * 1024;
export const Z_EROFS_COMPRESSION_LZ4 = 0;
export const Z_EROFS_COMPRESSION_LZMA = 1;
export const Z_EROFS_COMPRESSION_DEFLATE = 2;
export const Z_EROFS_COMPRESSION_ZSTD = 3;
export const Z_EROFS_COMPRESSION_MAX = 4;
/** Runtime-only "algorithms" for uncompressed (PLAIN) clusters, as in erofs-utils' internal.h. */
export const Z_EROFS_COMPRESSION_SHIFTED = Z_EROFS_COMPRESSION_MAX;
export const Z_EROFS_COMPRESSION_INTERLACED = Z_EROFS_COMPRESSION_MAX + 1;
export const Z_EROFS_ALL_COMPR_ALGS = (1 << Z_EROFS_COMPRESSION_MAX) - 1;
export const COMPRESSION_NAMES = ['lz4', 'lzma', 'deflate', 'zstd'] as const;

// h_advise bits (`Z_EROFS_ADVISE_*`)
export const Z_EROFS_ADVISE_COMPACTED_2B = 0x0001;
export const Z_EROFS_ADVISE_EXTENTS = 0x0001;
export const Z_EROFS_ADVISE_BIG_PCLUSTER_1 = 0x0002;
export const Z_EROFS_ADVISE_BIG_PCLUSTER_2 = 0x0004;
export const Z_EROFS_ADVISE_INLINE_PCLUSTER = 0x0008;
export const Z_EROFS_ADVISE_INTERLACED_PCLUSTER = 0x0010;
export const Z_EROFS_ADVISE_FRAGMENT_PCLUSTER = 0x0020;
export const Z_EROFS_ADVISE_EXTRECSZ_BIT = 1;
export const Z_EROFS_ADVISE_EXTRECSZ_MASK = 0x3;
export const Z_EROFS_FRAGMENT_INODE_BIT = 7;

/** `struct z_erofs_map_header` (8 bytes) field offsets. */
export const MAP_HEADER = {
  h_fragmentoff: 0, // union with h_reserved1 + h_idata_size, and h_extents_lo
  h_idata_size: 2,
  h_advise: 4,
  h_algorithmtype: 6, // union (with h_clusterbits) with h_extents_hi
  h_clusterbits: 7,
  size: 8,
} as const;

// lcluster types (`Z_EROFS_LCLUSTER_TYPE_*`)
export const Z_EROFS_LCLUSTER_TYPE_PLAIN = 0;
export const Z_EROFS_LCLUSTER_TYPE_HEAD1 = 1;
export const Z_EROFS_LCLUSTER_TYPE_NONHEAD = 2;
export const Z_EROFS_LCLUSTER_TYPE_HEAD2 = 3;
export const Z_EROFS_LI_LCLUSTER_TYPE_MASK = 3;
export const Z_EROFS_LI_PARTIAL_REF = 1 << 15;
export const Z_EROFS_LI_D0_CBLKCNT = 1 << 11;
/** `struct z_erofs_lcluster_index` (8 bytes) field offsets. */
export const LCLUSTER_INDEX = { di_advise: 0, di_clusterofs: 2, blkaddr: 4, delta0: 4, delta1: 6, size: 8 } as const;

/** `struct z_erofs_extent` field offsets and the `plen` bits. */
export const Z_EXTENT = { plen: 0, pstart_lo: 4, pstart_hi: 8, lstart_lo: 12, lstart_hi: 16 } as const;
export const Z_EROFS_EXTENT_PLEN_PARTIAL = 1 << 27;
export const Z_EROFS_EXTENT_PLEN_FMT_BIT = 28;
export const Z_EROFS_EXTENT_PLEN_MASK = (Z_EROFS_PCLUSTER_MAX_SIZE << 1) - 1;

/** Rounds `n` up to a multiple of the power of two `align`. */
export function roundUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

/** Rounds `n` down to a multiple of the power of two `align`. */
export function roundDown(n: number, align: number): number {
  return Math.floor(n / align) * align;
}
