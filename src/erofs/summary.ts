/**
 * The superblock summary `ocifs info` prints, with the facts and names `dump.erofs -s` shows.
 *
 * @packageDocumentation
 */
import {
  COMPAT_FEATURE_NAMES,
  COMPRESSION_NAMES,
  EROFS_FEATURE_INCOMPAT_COMPR_CFGS,
  EROFS_FEATURE_INCOMPAT_FRAGMENTS,
  EROFS_FEATURE_INCOMPAT_METABOX,
  INCOMPAT_FEATURE_NAMES,
} from './format.js';
import type { ErofsCompressionConfigs, ErofsSuperblock } from './superblock.js';

/** What `ocifs info` reports about an EROFS image. JSON-friendly: nids and counts beyond 2^53 are strings. */
export interface ErofsInfo {
  magic: string;
  blockSize: number;
  /** Blocks of all devices. */
  totalBlocks: number;
  /** Blocks of the image itself. */
  primaryBlocks: number;
  metaBlkaddr: number;
  xattrBlkaddr: number;
  rootNid: number | string;
  /** Present when the image has a packed inode (fragments, long xattr prefixes). */
  packedNid?: number | string;
  metaboxNid?: number | string;
  sbSize: number;
  inodeCount: number | string;
  /** Build time, seconds since the epoch (`epoch + build_time`). */
  buildTime: number;
  /** The same as ISO 8601. */
  created: string;
  featureCompat: number;
  featureIncompat: number;
  /** Compatible feature names, as dump.erofs prints them. */
  compatFeatures: string[];
  /** Incompatible feature names (bits with two names print both, as in dump.erofs). */
  incompatFeatures: string[];
  uuid: string;
  volumeName: string;
  /** Algorithms the image may use. */
  compressionAlgorithms: string[];
  /** Per-algorithm configurations from the superblock's extra area. */
  compressionConfigs: ErofsCompressionConfigs;
  xattrPrefixCount: number;
  xattrPrefixStart: number;
  extraDevices: number;
  /** The stored crc32c when the image has one, as 0x-hex. */
  checksum?: string;
}

function num(v: bigint): number | string {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

function uuidString(u: Uint8Array): string {
  const h = Buffer.from(u).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The summary of a parsed superblock. */
export function erofsInfo(sb: ErofsSuperblock): ErofsInfo {
  const buildTime = sb.epoch + sb.buildTime;
  const info: ErofsInfo = {
    magic: '0xE0F5E1E2',
    blockSize: sb.blockSize,
    totalBlocks: sb.totalBlocks,
    primaryBlocks: sb.primaryBlocks,
    metaBlkaddr: sb.metaBlkaddr,
    xattrBlkaddr: sb.xattrBlkaddr,
    rootNid: num(sb.rootNid),
    sbSize: sb.sbSize,
    inodeCount: num(sb.inos),
    buildTime,
    created: Number.isFinite(new Date(buildTime * 1000).getTime())
      ? new Date(buildTime * 1000).toISOString()
      : String(buildTime),
    featureCompat: sb.featureCompat,
    featureIncompat: sb.featureIncompat,
    compatFeatures: COMPAT_FEATURE_NAMES.filter(([bit]) => sb.featureCompat & bit).map(([, n]) => n),
    incompatFeatures: INCOMPAT_FEATURE_NAMES.filter(([bit]) => sb.featureIncompat & bit).map(([, n]) => n),
    uuid: uuidString(sb.uuid),
    volumeName: sb.volumeName,
    compressionAlgorithms: COMPRESSION_NAMES.filter((_, i) => sb.availableComprAlgs & (1 << i)),
    compressionConfigs: sb.comprCfgs,
    xattrPrefixCount: sb.xattrPrefixCount,
    xattrPrefixStart: sb.xattrPrefixStart,
    extraDevices: sb.extraDevices,
  };
  if (sb.featureIncompat & EROFS_FEATURE_INCOMPAT_FRAGMENTS && sb.packedNid > 0n) info.packedNid = num(sb.packedNid);
  if (sb.featureIncompat & EROFS_FEATURE_INCOMPAT_METABOX) info.metaboxNid = num(sb.metaboxNid);
  if (sb.featureCompat & 1) info.checksum = `0x${sb.checksum.toString(16).padStart(8, '0')}`;
  return info;
}

/** The summary as `dump.erofs -s`-style text lines. */
export function formatErofsInfo(info: ErofsInfo): string {
  const rows: [string, string | number][] = [
    ['Filesystem magic number', info.magic],
    ['Filesystem blocksize', info.blockSize],
    ['Filesystem blocks', info.totalBlocks],
    ['Filesystem inode metadata start block', info.metaBlkaddr],
    ['Filesystem shared xattr metadata start block', info.xattrBlkaddr],
    ['Filesystem root nid', info.rootNid],
  ];
  if (info.packedNid !== undefined) rows.push(['Filesystem packed nid', info.packedNid]);
  if (info.metaboxNid !== undefined) rows.push(['Filesystem metabox nid', info.metaboxNid]);
  if (info.featureIncompat & EROFS_FEATURE_INCOMPAT_COMPR_CFGS) {
    const cfg = (n: string) => {
      const c = (info.compressionConfigs as Record<string, Record<string, number> | undefined>)[n];
      return c
        ? `${n} (${Object.entries(c)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')})`
        : n;
    };
    rows.push(['Filesystem compr_algs', info.compressionAlgorithms.map(cfg).join(', ')]);
  } else {
    rows.push(['Filesystem lz4_max_distance', info.compressionConfigs.lz4?.maxDistance ?? 0]);
  }
  rows.push(
    ['Filesystem sb_size', info.sbSize],
    ['Filesystem inode count', info.inodeCount],
    ['Filesystem created', info.created],
    ['Filesystem compatible features', info.compatFeatures.join(' ')],
    ['Filesystem incompatible features', info.incompatFeatures.join(' ')],
    ['Filesystem UUID', info.uuid],
  );
  if (info.volumeName) rows.push(['Filesystem volume name', info.volumeName]);
  if (info.xattrPrefixCount)
    rows.push(['Filesystem xattr prefixes', `${info.xattrPrefixCount} at ${info.xattrPrefixStart * 4}`]);
  if (info.extraDevices) rows.push(['Filesystem extra devices', info.extraDevices]);
  return rows.map(([k, v]) => `${`${k}:`.padEnd(46)}${v}`).join('\n') + '\n';
}
