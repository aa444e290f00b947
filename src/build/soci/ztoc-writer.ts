/**
 * Writes a zTOC: SOCI's FlatBuffers table of contents of one layer (`ztoc/fbs/ztoc.fbs` of
 * awslabs/soci-snapshotter), the mirror of `tar/soci.ts`'s reader. Built with Google's own
 * FlatBuffers runtime (the `flatbuffers` package: the builder soci's Go code uses, ported, so
 * alignment, vtable sharing and default elision are the reference ones), adding objects in the
 * order soci's `ztocToFlatbuffer` does.
 *
 * File metadata follows soci's TOC builder (Go's `archive/tar` header): `name` as a path in the
 * archive (directories with a trailing `/`), `type` one of reg/dir/symlink/hardlink/char/block/
 * fifo, `uncompressed_offset` where the data starts, `mode` the permission bits, `mod_time` RFC
 * 3339 with nanoseconds, `xattrs` the member's PAX records (here the `SCHILY.xattr.*` ones).
 *
 * @packageDocumentation
 */
import { Builder } from 'flatbuffers';
import type { TarEntry } from '../../tar/index.js';

/** zTOC version soci writes (`ztoc.Version09`). */
export const ZTOC_VERSION = '0.9';

/** `CompressionAlgorithm` of ztoc.fbs. */
export const ZTOC_GZIP = 1;
export const ZTOC_UNCOMPRESSED = 2;

/** Everything a zTOC holds. */
export interface ZtocContent {
  buildTool: string;
  compressedSize: number;
  uncompressedSize: number;
  /** Tar members in archive order. */
  entries: readonly TarEntry[];
  algorithm: typeof ZTOC_GZIP | typeof ZTOC_UNCOMPRESSED;
  /** `sha256:…` of each span's compressed bytes. */
  spanDigests: readonly string[];
  /** The zinfo blob: gzip checkpoints, or the TarZinfo table for uncompressed layers. */
  checkpoints: Uint8Array;
}

const TYPE_NAMES: Partial<Record<TarEntry['type'], string>> = {
  file: 'reg',
  dir: 'dir',
  symlink: 'symlink',
  hardlink: 'hardlink',
  chardev: 'char',
  blockdev: 'block',
  fifo: 'fifo',
};

/** True when soci's zTOC can describe the member (sockets and sparse files it cannot). */
export function ztocCanDescribe(e: TarEntry): boolean {
  return TYPE_NAMES[e.type] !== undefined && e.sparse === undefined;
}

/** Serialises a zTOC. Every entry must pass {@link ztocCanDescribe}. */
export function writeZtoc(z: ZtocContent): Uint8Array {
  const b = new Builder(z.checkpoints.byteLength + z.entries.length * 160 + z.spanDigests.length * 80 + 1024);
  const version = b.createString(ZTOC_VERSION);
  const buildTool = b.createString(z.buildTool);
  const toc = writeToc(b, z.entries);
  const checkpoints = b.createByteVector(z.checkpoints);
  const digests = z.spanDigests.map((d) => b.createString(d));
  const spanDigests = offsetVector(b, digests);
  // table CompressionInfo { compression_algorithm = Gzip; max_span_id; span_digests; checkpoints }
  b.startObject(4);
  b.addFieldInt32(1, z.spanDigests.length - 1, 0);
  b.addFieldOffset(2, spanDigests, 0);
  b.addFieldOffset(3, checkpoints, 0);
  b.addFieldInt8(0, z.algorithm, ZTOC_GZIP);
  const info = b.endObject();
  // table Ztoc { version; build_tool_identifier; compressed_archive_size;
  // uncompressed_archive_size; toc; compression_info }
  b.startObject(6);
  b.addFieldOffset(0, version, 0);
  b.addFieldOffset(1, buildTool, 0);
  b.addFieldOffset(4, toc, 0);
  b.addFieldInt64(2, BigInt(z.compressedSize), 0n);
  b.addFieldInt64(3, BigInt(z.uncompressedSize), 0n);
  b.addFieldOffset(5, info, 0);
  b.finish(b.endObject());
  return b.asUint8Array();
}

/** table TOC { metadata: [FileMetadata] }, built last entry first as soci does. */
function writeToc(b: Builder, entries: readonly TarEntry[]): number {
  const offsets = new Array<number>(entries.length);
  for (let i = entries.length - 1; i >= 0; i--) offsets[i] = writeFileMetadata(b, entries[i]);
  const metadata = offsetVector(b, offsets);
  b.startObject(1);
  b.addFieldOffset(0, metadata, 0);
  return b.endObject();
}

function writeFileMetadata(b: Builder, e: TarEntry): number {
  const type = TYPE_NAMES[e.type];
  if (type === undefined || e.sparse) throw new RangeError(`${e.path}: a zTOC cannot describe this member`);
  const name = b.createString(e.path === '' ? './' : e.type === 'dir' ? `${e.path}/` : e.path);
  const t = b.createString(type);
  const link = b.createString(e.linkName ?? '');
  const uname = b.createString('');
  const gname = b.createString('');
  const modTime = b.createString(rfc3339(e.mtimeSec, e.mtimeNsec));
  const xattrs = writeXattrs(b, e);
  // table FileMetadata (14 fields, see ztoc.fbs)
  b.startObject(14);
  b.addFieldOffset(0, name, 0);
  b.addFieldOffset(1, t, 0);
  b.addFieldInt64(2, BigInt(e.dataOffset), 0n);
  b.addFieldInt64(3, BigInt(e.type === 'file' ? e.size : 0), 0n);
  b.addFieldOffset(4, link, 0);
  b.addFieldInt64(5, BigInt(e.mode), 0n);
  b.addFieldInt32(6, e.uid, 0);
  b.addFieldInt32(7, e.gid, 0);
  b.addFieldOffset(8, uname, 0);
  b.addFieldOffset(9, gname, 0);
  b.addFieldOffset(10, modTime, 0);
  b.addFieldInt64(11, BigInt(e.devMajor ?? 0), 0n);
  b.addFieldInt64(12, BigInt(e.devMinor ?? 0), 0n);
  b.addFieldOffset(13, xattrs, 0);
  return b.endObject();
}

/** The member's PAX xattr records, keys sorted (soci sorts its PAX record keys). */
function writeXattrs(b: Builder, e: TarEntry): number {
  const records = [...(e.xattrs ?? [])]
    .map(([k, v]) => [`SCHILY.xattr.${k}`, v] as const)
    .sort(([a], [c]) => (a < c ? -1 : a > c ? 1 : 0));
  const offsets = records.map(([k, v]) => {
    const key = b.createString(k);
    const value = b.createString(v);
    b.startObject(2);
    b.addFieldOffset(0, key, 0);
    b.addFieldOffset(1, value, 0);
    return b.endObject();
  });
  return offsetVector(b, offsets);
}

function offsetVector(b: Builder, offsets: readonly number[]): number {
  b.startVector(4, offsets.length, 4);
  for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i]);
  return b.endVector();
}

/**
 * Go's `time.Time.MarshalText` (RFC 3339, nanoseconds without trailing zeros) in UTC; empty
 * outside years 0-9999, where Go's fails and soci stores the empty string.
 */
export function rfc3339(sec: number, nsec: number): string {
  const ms = sec * 1000;
  if (!Number.isFinite(ms) || ms < -62167219200000 || ms > 253402300799000) return '';
  const base = new Date(ms).toISOString().slice(0, 19);
  const frac = nsec > 0 ? '.' + String(nsec).padStart(9, '0').replace(/0+$/, '') : '';
  return `${base}${frac}Z`;
}
