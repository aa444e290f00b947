/**
 * The EROFS superblock (`struct erofs_super_block`, 1024 bytes into the image), the
 * compression configurations that follow it (`struct z_erofs_*_cfgs`) and the device table
 * (`struct erofs_deviceslot`): parsed, range-checked and, when the image says so, checksummed.
 *
 * @packageDocumentation
 */
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { crc32cUpdate } from './crc32c.js';
import { CorruptErofsError, ErofsChecksumError, NotErofsError, UnsupportedErofsError } from './errors.js';
import {
  DEVSLOT,
  EROFS_ALL_FEATURE_INCOMPAT,
  EROFS_DEVT_SLOT_SIZE,
  EROFS_DIRENT_NID_METABOX_BIT,
  EROFS_FEATURE_COMPAT_SB_CHKSUM,
  EROFS_FEATURE_INCOMPAT_48BIT,
  EROFS_FEATURE_INCOMPAT_COMPR_CFGS,
  EROFS_FEATURE_INCOMPAT_DEVICE_TABLE,
  EROFS_FEATURE_INCOMPAT_METABOX,
  EROFS_MAX_BLKSZBITS,
  EROFS_MIN_BLKSZBITS,
  EROFS_SB_EXTSLOT_SIZE,
  EROFS_SUPER_MAGIC_V1,
  EROFS_SUPER_OFFSET,
  SB,
  Z_EROFS_ALL_COMPR_ALGS,
  Z_EROFS_COMPRESSION_DEFLATE,
  Z_EROFS_COMPRESSION_LZ4,
  Z_EROFS_COMPRESSION_LZMA,
  Z_EROFS_COMPRESSION_MAX,
  Z_EROFS_COMPRESSION_ZSTD,
  Z_EROFS_PCLUSTER_MAX_SIZE,
  roundUp,
} from './format.js';

/** One extra device of the device table (`struct erofs_deviceslot`). */
export interface ErofsDeviceSlot {
  /** `tag`: 64 bytes the kernel never parses (mkfs puts a digest or path there). */
  tag: Uint8Array;
  /** `blocks_lo | blocks_hi << 32` (hi only with 48BIT). */
  blocks: number;
  /** `uniaddr_lo | uniaddr_hi << 32`: first block in the unified address space, 0 if none. */
  uniaddr: number;
}

/** Per-algorithm settings stored after the superblock (`struct z_erofs_*_cfgs`). */
export interface ErofsCompressionConfigs {
  /** `z_erofs_lz4_cfgs` (or, without COMPR_CFGS, the superblock's `lz4_max_distance`). */
  lz4?: { maxDistance: number; maxPclusterBlocks: number };
  /** `z_erofs_lzma_cfgs`. */
  lzma?: { dictSize: number; format: number };
  /** `z_erofs_deflate_cfgs`. */
  deflate?: { windowBits: number };
  /** `z_erofs_zstd_cfgs` (`windowlog` is stored minus 10). */
  zstd?: { format: number; windowLog: number };
}

/** The parsed superblock. Names follow `struct erofs_super_block`; 64-bit nids stay bigint. */
export interface ErofsSuperblock {
  checksum: number;
  featureCompat: number;
  featureIncompat: number;
  blkszbits: number;
  /** `1 << blkszbits`. */
  blockSize: number;
  /** `128 + sb_extslots * 16`. */
  sbSize: number;
  rootNid: bigint;
  inos: bigint;
  /** Base seconds of compact inodes' mtimes (signed 64-bit on disk). */
  epoch: number;
  fixedNsec: number;
  /** Blocks of the primary device. */
  primaryBlocks: number;
  /** Blocks of all devices. */
  totalBlocks: number;
  metaBlkaddr: number;
  xattrBlkaddr: number;
  uuid: Uint8Array;
  /** `volume_name` up to its first NUL, decoded as UTF-8. */
  volumeName: string;
  /** Bitmap of algorithms (1 << Z_EROFS_COMPRESSION_*) the image may use. */
  availableComprAlgs: number;
  comprCfgs: ErofsCompressionConfigs;
  extraDevices: number;
  devtSlotoff: number;
  dirblkbits: number;
  xattrPrefixCount: number;
  xattrPrefixStart: number;
  packedNid: bigint;
  xattrFilterReserved: number;
  ishareXattrPrefixId: number;
  buildTime: number;
  metaboxNid: bigint;
  devices: ErofsDeviceSlot[];
}

/** How much of the image {@link readSuperblock} reads first: the superblock and usually its block. */
export const SUPERBLOCK_PROBE_SIZE = 4096;

/** Reads superblock-area metadata: exactly what is asked, with no readahead behind it. */
function readMetaAt(source: ByteSource, off: number, len: number, options: ReadOptions): Promise<Uint8Array> {
  return source.read(off, len, { ...options, readaheadLimit: off + len });
}

/** True when `source` starts with an EROFS superblock (magic 0xE0F5E1E2 at offset 1024). */
export async function isErofs(source: ByteSource, options: ReadOptions = {}): Promise<boolean> {
  if (source.size < EROFS_SUPER_OFFSET + SB.baseSize) return false;
  const b = await readMetaAt(source, EROFS_SUPER_OFFSET, 4, options);
  return b.length === 4 && new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true) === EROFS_SUPER_MAGIC_V1;
}

function u64(dv: DataView, off: number): bigint {
  return dv.getBigUint64(off, true);
}

/** Options of {@link readSuperblock}. */
export interface ReadSuperblockOptions extends ReadOptions {
  /** Verify the crc32c when `EROFS_FEATURE_COMPAT_SB_CHKSUM` is set (default true). */
  verifyChecksum?: boolean;
}

/**
 * Reads and validates the superblock of `source`. Returns it together with the bytes read from
 * the start of the image (at least up to the end of the superblock), so the caller can seed its
 * metadata cache with them instead of reading them again.
 */
export async function readSuperblock(
  source: ByteSource,
  options: ReadSuperblockOptions = {},
): Promise<{ sb: ErofsSuperblock; head: Uint8Array }> {
  if (source.size < EROFS_SUPER_OFFSET + SB.baseSize) {
    throw new NotErofsError(`${source.size} bytes is too small to hold a superblock`);
  }
  let head = await readMetaAt(source, 0, Math.min(source.size, SUPERBLOCK_PROBE_SIZE), options);
  let dv = new DataView(head.buffer, head.byteOffset + EROFS_SUPER_OFFSET, head.length - EROFS_SUPER_OFFSET);
  const magic = dv.getUint32(SB.magic, true);
  if (magic !== EROFS_SUPER_MAGIC_V1) {
    throw new NotErofsError(`magic at offset 1024 is 0x${magic.toString(16).padStart(8, '0')}, not 0xe0f5e1e2`);
  }
  const blkszbits = dv.getUint8(SB.blkszbits);
  if (blkszbits < EROFS_MIN_BLKSZBITS || blkszbits > EROFS_MAX_BLKSZBITS) {
    throw new UnsupportedErofsError(`block size 2^${blkszbits} is outside 512 B – 64 KiB`);
  }
  const blockSize = 2 ** blkszbits;
  const featureIncompat = dv.getUint32(SB.feature_incompat, true);
  const unknown = (featureIncompat & ~EROFS_ALL_FEATURE_INCOMPAT) >>> 0;
  if (unknown) {
    const bits: number[] = [];
    for (let i = 0; i < 32; i++) if (unknown & (2 ** i)) bits.push(i);
    throw new UnsupportedErofsError(
      `unknown incompatible feature flags 0x${unknown.toString(16)} (bit ${bits.join(', bit ')}); a newer reader is needed`,
      {},
      { data: { unknownIncompat: unknown } },
    );
  }
  const sbSize = SB.baseSize + dv.getUint8(SB.sb_extslots) * EROFS_SB_EXTSLOT_SIZE;
  // The kernel keeps the superblock within the first page after the 1024-byte gap.
  if (sbSize > SUPERBLOCK_PROBE_SIZE - EROFS_SUPER_OFFSET || EROFS_SUPER_OFFSET + sbSize > source.size) {
    throw new CorruptErofsError(`superblock size ${sbSize} (sb_extslots) does not fit the image`);
  }
  const featureCompat = dv.getUint32(SB.feature_compat, true);
  // crc32c over [1024, 1024 + len), len = blocksize - 1024 (or a whole block for blocks ≤ 1 KiB).
  const csumLen = blockSize > EROFS_SUPER_OFFSET ? blockSize - EROFS_SUPER_OFFSET : blockSize;
  const wantCsum = (featureCompat & EROFS_FEATURE_COMPAT_SB_CHKSUM) !== 0 && options.verifyChecksum !== false;
  if (wantCsum && EROFS_SUPER_OFFSET + csumLen > head.length) {
    if (EROFS_SUPER_OFFSET + csumLen > source.size) {
      throw new CorruptErofsError(`image of ${source.size} bytes ends inside the superblock block`, { block: 0 });
    }
    head = await readMetaAt(source, 0, EROFS_SUPER_OFFSET + csumLen, options);
    dv = new DataView(head.buffer, head.byteOffset + EROFS_SUPER_OFFSET, head.length - EROFS_SUPER_OFFSET);
  }
  const checksum = dv.getUint32(SB.checksum, true);
  if (wantCsum) {
    const region = head.slice(EROFS_SUPER_OFFSET, EROFS_SUPER_OFFSET + csumLen);
    region.fill(0, SB.checksum, SB.checksum + 4);
    const actual = crc32cUpdate(0xffffffff, region);
    if (actual !== checksum) throw new ErofsChecksumError(checksum, actual);
  }

  const ext = (off: number, len: number) => off + len <= sbSize; // field present in this superblock size
  const is48 = (featureIncompat & EROFS_FEATURE_INCOMPAT_48BIT) !== 0;
  let rootNid = BigInt(dv.getUint16(SB.rootnid_2b, true));
  let primaryBlocks = dv.getUint32(SB.blocks_lo, true);
  const rootnid8b = ext(SB.rootnid_8b, 8) ? u64(dv, SB.rootnid_8b) : 0n;
  if (is48 && rootnid8b !== 0n) {
    rootNid = rootnid8b;
    primaryBlocks += dv.getUint16(SB.rootnid_2b, true) * 2 ** 32; // blocks_hi shares the union
  }
  const packedNid = u64(dv, SB.packed_nid);
  if (packedNid >> EROFS_DIRENT_NID_METABOX_BIT)
    throw new CorruptErofsError(`packed_nid ${packedNid} has the metabox bit`);
  let metaboxNid = 0n;
  if (featureIncompat & EROFS_FEATURE_INCOMPAT_METABOX) {
    if (!ext(SB.metabox_nid, 8))
      throw new CorruptErofsError(`metabox feature without room for metabox_nid (superblock ${sbSize} bytes)`);
    metaboxNid = u64(dv, SB.metabox_nid);
    if (metaboxNid >> EROFS_DIRENT_NID_METABOX_BIT)
      throw new CorruptErofsError(`metabox_nid ${metaboxNid} points into the metabox itself`);
  }
  const dirblkbits = dv.getUint8(SB.dirblkbits);
  if (dirblkbits !== 0)
    throw new UnsupportedErofsError(`dirblkbits ${dirblkbits} (directory blocks larger than filesystem blocks)`);

  const nameBytes = head.subarray(EROFS_SUPER_OFFSET + SB.volume_name, EROFS_SUPER_OFFSET + SB.volume_name + 16);
  const nul = nameBytes.indexOf(0);
  const sb: ErofsSuperblock = {
    checksum,
    featureCompat,
    featureIncompat,
    blkszbits,
    blockSize,
    sbSize,
    rootNid,
    inos: u64(dv, SB.inos),
    epoch: safeSigned(dv.getBigInt64(SB.epoch, true)),
    fixedNsec: dv.getUint32(SB.fixed_nsec, true),
    primaryBlocks,
    totalBlocks: primaryBlocks,
    metaBlkaddr: dv.getUint32(SB.meta_blkaddr, true),
    xattrBlkaddr: dv.getUint32(SB.xattr_blkaddr, true),
    uuid: head.slice(EROFS_SUPER_OFFSET + SB.uuid, EROFS_SUPER_OFFSET + SB.uuid + 16),
    volumeName: new TextDecoder().decode(nul < 0 ? nameBytes : nameBytes.subarray(0, nul)),
    availableComprAlgs: 0,
    comprCfgs: {},
    extraDevices: 0,
    devtSlotoff: dv.getUint16(SB.devt_slotoff, true),
    dirblkbits,
    xattrPrefixCount: dv.getUint8(SB.xattr_prefix_count),
    xattrPrefixStart: dv.getUint32(SB.xattr_prefix_start, true),
    packedNid,
    xattrFilterReserved: dv.getUint8(SB.xattr_filter_reserved),
    ishareXattrPrefixId: dv.getUint8(SB.ishare_xattr_prefix_id),
    buildTime: dv.getUint32(SB.build_time, true),
    metaboxNid,
    devices: [],
  };
  await readComprCfgs(source, sb, dv.getUint16(SB.available_compr_algs, true), head, options);
  if (featureIncompat & EROFS_FEATURE_INCOMPAT_DEVICE_TABLE) {
    sb.extraDevices = dv.getUint16(SB.extra_devices, true);
    await readDevices(source, sb, options);
  }
  return { sb, head };
}

function safeSigned(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new CorruptErofsError(`superblock epoch ${v} is out of range`);
  }
  return Number(v);
}

/** Reads `len` raw bytes at `off`, from `head` when it holds them. */
async function rawRead(
  source: ByteSource,
  head: Uint8Array,
  off: number,
  len: number,
  options: ReadOptions,
): Promise<Uint8Array> {
  if (off + len > source.size)
    throw new CorruptErofsError(`superblock metadata at ${off}+${len} runs past the end of the image`, { offset: off });
  if (off + len <= head.length) return head.subarray(off, off + len);
  return readMetaAt(source, off, len, options);
}

/**
 * Compression configurations: with COMPR_CFGS, one `__le16 length` + record per bit of
 * `available_compr_algs`, 4-byte aligned, right after the superblock (erofs-utils
 * `z_erofs_parse_cfgs`, `erofs_read_metadata` with nid 0).
 */
async function readComprCfgs(
  source: ByteSource,
  sb: ErofsSuperblock,
  u1: number,
  head: Uint8Array,
  options: ReadOptions,
): Promise<void> {
  if (!(sb.featureIncompat & EROFS_FEATURE_INCOMPAT_COMPR_CFGS)) {
    // Like the kernel: LZ4 is always available on such images; u1 is lz4_max_distance.
    sb.availableComprAlgs = 1 << Z_EROFS_COMPRESSION_LZ4;
    sb.comprCfgs.lz4 = { maxDistance: u1, maxPclusterBlocks: 1 };
    return;
  }
  sb.availableComprAlgs = u1;
  if (u1 & ~Z_EROFS_ALL_COMPR_ALGS) {
    throw new UnsupportedErofsError(
      `unknown compression algorithms 0x${(u1 & ~Z_EROFS_ALL_COMPR_ALGS).toString(16)} in available_compr_algs`,
    );
  }
  let off = EROFS_SUPER_OFFSET + sb.sbSize;
  for (let alg = 0; alg < Z_EROFS_COMPRESSION_MAX; alg++) {
    if (!(u1 & (1 << alg))) continue;
    off = roundUp(off, 4);
    const lenBytes = await rawRead(source, head, off, 2, options);
    const len = lenBytes[0] | (lenBytes[1] << 8);
    if (len === 0) throw new CorruptErofsError(`empty compression configuration for algorithm ${alg}`, { offset: off });
    const data = await rawRead(source, head, off + 2, len, options);
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    off += 2 + len;
    const need = (n: number) => {
      if (len < n)
        throw new CorruptErofsError(`compression configuration of algorithm ${alg} is ${len} bytes, expected ${n}`, {
          offset: off,
        });
    };
    if (alg === Z_EROFS_COMPRESSION_LZ4) {
      need(14);
      const maxPclusterBlocks = dv.getUint16(2, true) || 1;
      if (maxPclusterBlocks * sb.blockSize > Z_EROFS_PCLUSTER_MAX_SIZE) {
        throw new CorruptErofsError(`lz4 max_pclusterblks ${maxPclusterBlocks} exceeds 1 MiB`);
      }
      sb.comprCfgs.lz4 = { maxDistance: dv.getUint16(0, true), maxPclusterBlocks };
    } else if (alg === Z_EROFS_COMPRESSION_LZMA) {
      need(14);
      const cfg = { dictSize: dv.getUint32(0, true), format: dv.getUint16(4, true) };
      if (cfg.format !== 0) throw new UnsupportedErofsError(`lzma configuration format ${cfg.format}`);
      if (cfg.dictSize > 8 * Z_EROFS_PCLUSTER_MAX_SIZE)
        throw new UnsupportedErofsError(`lzma dictionary of ${cfg.dictSize} bytes`);
      sb.comprCfgs.lzma = cfg;
    } else if (alg === Z_EROFS_COMPRESSION_DEFLATE) {
      need(6);
      const windowBits = dv.getUint8(0);
      if (windowBits > 15) throw new UnsupportedErofsError(`deflate windowbits ${windowBits}`);
      sb.comprCfgs.deflate = { windowBits };
    } else if (alg === Z_EROFS_COMPRESSION_ZSTD) {
      need(6);
      const cfg = { format: dv.getUint8(0), windowLog: dv.getUint8(1) + 10 };
      if (cfg.format !== 0) throw new UnsupportedErofsError(`zstd configuration format ${cfg.format}`);
      sb.comprCfgs.zstd = cfg;
    }
  }
}

/** The device table: `extra_devices` slots of 128 bytes at `devt_slotoff * 128` (`erofs_init_devices`). */
async function readDevices(source: ByteSource, sb: ErofsSuperblock, options: ReadOptions): Promise<void> {
  const n = sb.extraDevices;
  if (n === 0) return;
  const pos = sb.devtSlotoff * EROFS_DEVT_SLOT_SIZE;
  const len = n * EROFS_DEVT_SLOT_SIZE;
  if (pos + len > source.size)
    throw new CorruptErofsError(`device table (${n} slots at ${pos}) runs past the end of the image`, { offset: pos });
  const bytes = await readMetaAt(source, pos, len, options);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const is48 = (sb.featureIncompat & EROFS_FEATURE_INCOMPAT_48BIT) !== 0;
  for (let i = 0; i < n; i++) {
    const o = i * EROFS_DEVT_SLOT_SIZE;
    const blocks =
      dv.getUint32(o + DEVSLOT.blocks_lo, true) + (is48 ? dv.getUint16(o + DEVSLOT.blocks_hi, true) * 2 ** 32 : 0);
    const uniaddr =
      dv.getUint32(o + DEVSLOT.uniaddr_lo, true) + (is48 ? dv.getUint16(o + DEVSLOT.uniaddr_hi, true) * 2 ** 32 : 0);
    sb.devices.push({ tag: bytes.slice(o, o + 64), blocks, uniaddr });
    sb.totalBlocks += blocks;
  }
}
