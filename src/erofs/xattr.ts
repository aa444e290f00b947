/**
 * Extended attributes: the inline region after an inode (`struct erofs_xattr_ibody_header`,
 * shared-xattr ids, then `struct erofs_xattr_entry` records), the shared xattr area at
 * `xattr_blkaddr` (or in the metabox), the short name prefixes (`EROFS_XATTR_INDEX_*`) and the
 * long-prefix table (`struct erofs_xattr_long_prefix` at `xattr_prefix_start`, in the packed
 * inode, the metabox, or plain). Follows the kernel's `fs/erofs/xattr.c` and erofs-utils'
 * `lib/xattr.c`.
 *
 * @packageDocumentation
 */
import type { ReadOptions } from '../io/byte-source.js';
import { readMeta, type ErofsContext } from './context.js';
import { CorruptErofsError, UnsupportedErofsError } from './errors.js';
import {
  EROFS_FEATURE_COMPAT_SHARED_EA_IN_METABOX,
  EROFS_NAME_LEN,
  EROFS_XATTR_LONG_PREFIX,
  EROFS_XATTR_LONG_PREFIX_MASK,
  XATTR_ENTRY,
  XATTR_ENTRY_SIZE,
  XATTR_IBODY,
  XATTR_IBODY_HEADER_SIZE,
  XATTR_PREFIXES,
  roundUp,
} from './format.js';
import type { ErofsInode } from './inode.js';

/** One entry of the long-prefix table: the full prefix (short prefix + infix). */
export type LongPrefixes = ReadonlyArray<string | undefined>;

const utf8 = new TextDecoder();

/** Reads `len` bytes at `off` of wherever the long-prefix table lives. */
export type PrefixTableReader = (off: number, len: number, options?: ReadOptions) => Promise<Uint8Array>;

/**
 * Loads the long xattr name prefixes (`erofs_xattr_prefixes_init`): `count` records, each a
 * 4-byte aligned `__le16` length then `base_index` and the infix.
 */
export async function readLongPrefixes(
  count: number,
  start: number,
  read: PrefixTableReader,
  options?: ReadOptions,
): Promise<LongPrefixes> {
  const out: (string | undefined)[] = [];
  let off = start;
  for (let i = 0; i < count; i++) {
    off = roundUp(off, 4);
    const lb = await read(off, 2, options);
    const len = lb[0] | (lb[1] << 8);
    if (len < 1 || len > EROFS_NAME_LEN + 1)
      throw new CorruptErofsError(`long xattr prefix ${i} has length ${len}`, { offset: off });
    const rec = await read(off + 2, len, options);
    off += 2 + len;
    const base = XATTR_PREFIXES[rec[0]];
    // A prefix over an unknown short prefix is kept as a hole: entries using it are skipped.
    out.push(base === undefined ? undefined : base + utf8.decode(rec.subarray(1)));
  }
  return out;
}

/** Full xattr name of an entry, or undefined when its prefix is unknown (the kernel skips those). */
function entryName(index: number, suffix: Uint8Array, prefixes: LongPrefixes): string | undefined {
  let prefix: string | undefined;
  if (index & EROFS_XATTR_LONG_PREFIX) prefix = prefixes[index & EROFS_XATTR_LONG_PREFIX_MASK];
  else prefix = XATTR_PREFIXES[index];
  if (prefix === undefined) return undefined;
  return prefix + utf8.decode(suffix);
}

/**
 * All xattrs of `inode`: inline entries first, then shared ones, as `listxattr` orders them.
 * Values are copies.
 */
export async function readXattrs(
  ctx: ErofsContext,
  inode: ErofsInode,
  prefixes: () => Promise<LongPrefixes>,
  options?: ReadOptions,
): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  const size = inode.xattrIsize;
  if (size === 0) return out;
  const nid = inode.nid;
  if (size === XATTR_IBODY_HEADER_SIZE)
    throw new UnsupportedErofsError(`xattr region of ${size} bytes (header only)`, { nid });
  const base = inode.iloc + inode.inodeSize;
  const region = await readMeta(ctx, inode.inMetabox, base, size, options);
  const dv = new DataView(region.buffer, region.byteOffset, region.byteLength);
  const shared = dv.getUint8(XATTR_IBODY.h_shared_count);
  let p = XATTR_IBODY_HEADER_SIZE + shared * 4;
  if (p > size)
    throw new CorruptErofsError(`${shared} shared xattr ids do not fit a ${size}-byte xattr region`, {
      nid,
      offset: base,
    });
  let pfx: LongPrefixes = [];
  let loaded = false;
  // The long-prefix table is read only when an entry uses it.
  const prefixFor = async (index: number) => {
    if (index & EROFS_XATTR_LONG_PREFIX && !loaded) {
      pfx = await prefixes();
      loaded = true;
    }
    return pfx;
  };
  while (p < size) {
    if (p + XATTR_ENTRY_SIZE > size)
      throw new CorruptErofsError('xattr entry header runs past the xattr region', { nid, offset: base + p });
    const nameLen = dv.getUint8(p + XATTR_ENTRY.e_name_len);
    const index = dv.getUint8(p + XATTR_ENTRY.e_name_index);
    const valueSize = dv.getUint16(p + XATTR_ENTRY.e_value_size, true);
    const entrySize = roundUp(XATTR_ENTRY_SIZE + nameLen + valueSize, 4);
    if (p + entrySize > size)
      throw new CorruptErofsError('xattr entry runs past the xattr region', { nid, offset: base + p });
    const nameAt = p + XATTR_ENTRY.e_name;
    const name = entryName(index, region.subarray(nameAt, nameAt + nameLen), await prefixFor(index));
    if (name !== undefined && !out.has(name))
      out.set(name, region.slice(nameAt + nameLen, nameAt + nameLen + valueSize));
    p += entrySize;
  }
  const inMbox = (ctx.sb.featureCompat & EROFS_FEATURE_COMPAT_SHARED_EA_IN_METABOX) !== 0;
  const area = inMbox ? 0 : ctx.sb.xattrBlkaddr * ctx.sb.blockSize;
  for (let i = 0; i < shared; i++) {
    const id = dv.getUint32(XATTR_IBODY.h_shared_xattrs + i * 4, true);
    const pos = area + id * 4;
    const head = await readMeta(ctx, inMbox, pos, XATTR_ENTRY_SIZE, options);
    const nameLen = head[XATTR_ENTRY.e_name_len];
    const index = head[XATTR_ENTRY.e_name_index];
    const valueSize = head[XATTR_ENTRY.e_value_size] | (head[XATTR_ENTRY.e_value_size + 1] << 8);
    const body = await readMeta(ctx, inMbox, pos + XATTR_ENTRY_SIZE, nameLen + valueSize, options);
    const name = entryName(index, body.subarray(0, nameLen), await prefixFor(index));
    if (name !== undefined && !out.has(name)) out.set(name, body.slice(nameLen, nameLen + valueSize));
  }
  return out;
}
