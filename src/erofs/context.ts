/**
 * What every part of the reader shares: the superblock, the sources (primary image, extra
 * devices, metabox), the caches and the limits. Also the mapping between EROFS nids (64-bit,
 * bit 63 = "in the metabox") and the safe-integer inode numbers of the vfs interface.
 *
 * @packageDocumentation
 */
import type { ByteSource, FileSpan, ReadOptions } from '../io/byte-source.js';
import { CorruptErofsError, ErofsDeviceMissingError, type ErofsLocation } from './errors.js';
import {
  EROFS_DIRENT_NID_MASK,
  EROFS_DIRENT_NID_METABOX_BIT,
  EROFS_FEATURE_INCOMPAT_METABOX,
  EROFS_ISLOTBITS,
} from './format.js';
import type { LRUCache } from '../io/lru.js';
import type { PageCache } from './page-cache.js';
import type { ErofsSuperblock } from './superblock.js';

/**
 * Inode numbers of inodes inside the metabox start here. Plain nids are below it: an inode's
 * byte offset (`meta_blkaddr * blocksize + nid * 32`) must lie in an image of fewer than 2^53
 * bytes, so its nid is below 2^48.
 */
export const METABOX_INO_BASE = 2 ** 48;

/** Shared state of one open EROFS image. */
export interface ErofsContext {
  readonly sb: ErofsSuperblock;
  readonly source: ByteSource;
  /** Extra devices (`devices` option), index 0 = device id 1. */
  readonly devices: readonly ByteSource[];
  /** Metadata pages of the primary image. */
  readonly meta: PageCache;
  /** Metadata pages of the metabox inode's data, once opened. */
  mbox?: PageCache;
  /** Decoded physical clusters, keyed by where they come from. */
  readonly clusters: LRUCache<string, Promise<Uint8Array>>;
  /** Options in effect. */
  readonly limits: { maxSymlinkSize: number };
  /**
   * The content of the packed inode (`packed_nid`), where fragments live. `forNid` is the inode
   * asking: the packed inode itself may not have fragments.
   */
  packed(forNid: bigint, options?: ReadOptions): Promise<ByteSource>;
  /** Sources known to lie whole in one local-file span, or found not to (and when). */
  readonly wholeSpans: Map<ByteSource, { span?: FileSpan; checkedAt: number }>;
}

/** How long a source found not to lie in one local-file span is not asked again (a cached blob may complete). */
const WHOLE_SPAN_RETRY_MS = 1000;

/**
 * The local-file spans of `[at, at + length)` of `src`. A source that lies whole in one span
 * (an image file, a complete cached blob) is asked once: later ranges are offsets into that
 * span, without a call through every wrapper per cluster.
 */
async function sourceSpans(
  ctx: ErofsContext,
  src: ByteSource,
  at: number,
  length: number,
  options?: ReadOptions,
): Promise<FileSpan[] | undefined> {
  if (src.fileSpans === undefined) return undefined;
  const span = await wholeSpan(ctx, src, options);
  if (span !== undefined) return [{ fd: span.fd, fileId: span.fileId, position: span.position + at, length }];
  return src.fileSpans(at, length, options);
}

/** `src` as one local-file span, when it is one (asked once; a negative answer is asked again after a while). */
async function wholeSpan(ctx: ErofsContext, src: ByteSource, options?: ReadOptions): Promise<FileSpan | undefined> {
  if (src.fileSpans === undefined) return undefined;
  const known = ctx.wholeSpans.get(src);
  if (known?.span !== undefined) return known.span;
  if (known !== undefined && Date.now() - known.checkedAt <= WHOLE_SPAN_RETRY_MS) return undefined;
  const whole = src.size > 0 ? await src.fileSpans(0, src.size, options) : undefined;
  const span = whole?.length === 1 && whole[0].length === src.size ? whole[0] : undefined;
  ctx.wholeSpans.set(src, { span, checkedAt: Date.now() });
  return span;
}

/**
 * The whole image as one local-file span (an image file, a complete cached blob), when it is
 * one and the image has no extra devices: every data address and metadata offset of the image
 * is then an offset into it (after {@link checkPhysical} / `PageCache.check`).
 */
export function imageSpan(ctx: ErofsContext, options?: ReadOptions): Promise<FileSpan | undefined> {
  if (ctx.sb.devices.length !== 0 || ctx.devices.length !== 0) return Promise.resolve(undefined);
  return wholeSpan(ctx, ctx.source, options);
}

/**
 * Refuses data at `pa` of the image (device 0, no extra devices) that lies outside it, as {@link
 * readPhysical} does.
 */
export function checkPhysical(ctx: ErofsContext, pa: number, length: number, nid: bigint): void {
  physicalSource(ctx, 0, pa, length, nid);
}

/** Where an inode lives: in the metabox's data or in the image, at which byte. */
export interface InodeLocation {
  inMetabox: boolean;
  /** Byte offset of the on-disk inode (`erofs_iloc`). */
  iloc: number;
}

/** The vfs inode number of a nid; refuses nids that cannot point inside the image. */
export function nidToIno(ctx: ErofsContext, nid: bigint, where: ErofsLocation = {}): number {
  const inMetabox = nid >> EROFS_DIRENT_NID_METABOX_BIT !== 0n;
  const slot = nid & EROFS_DIRENT_NID_MASK;
  if (inMetabox && !(ctx.sb.featureIncompat & EROFS_FEATURE_INCOMPAT_METABOX)) {
    throw new CorruptErofsError(`nid ${nid} points into a metabox the image does not have`, { ...where, nid });
  }
  if (slot >= BigInt(METABOX_INO_BASE)) throw new CorruptErofsError(`nid ${nid} is out of range`, { ...where, nid });
  return inMetabox ? METABOX_INO_BASE + Number(slot) : Number(slot);
}

/** The nid of a vfs inode number (inverse of {@link nidToIno}). */
export function inoToNid(ino: number): bigint {
  return ino >= METABOX_INO_BASE ? (1n << EROFS_DIRENT_NID_METABOX_BIT) | BigInt(ino - METABOX_INO_BASE) : BigInt(ino);
}

/** Where the inode `ino` lives (`erofs_iloc`). */
export function inodeLocation(ctx: ErofsContext, ino: number): InodeLocation {
  if (ino >= METABOX_INO_BASE) return { inMetabox: true, iloc: (ino - METABOX_INO_BASE) * 2 ** EROFS_ISLOTBITS };
  return { inMetabox: false, iloc: ctx.sb.metaBlkaddr * ctx.sb.blockSize + ino * 2 ** EROFS_ISLOTBITS };
}

/** Reads metadata from the image or the metabox. */
export function readMeta(
  ctx: ErofsContext,
  inMetabox: boolean,
  offset: number,
  length: number,
  options?: ReadOptions,
): Promise<Uint8Array> {
  if (!inMetabox) return ctx.meta.read(offset, length, options);
  if (ctx.mbox === undefined)
    throw new CorruptErofsError('metadata in the metabox, but the image has no metabox', { offset });
  return ctx.mbox.read(offset, length, options);
}

/** The local-file spans of metadata in the image or the metabox (see {@link PageCache.fileSpans}). */
export function metaSpans(
  ctx: ErofsContext,
  inMetabox: boolean,
  offset: number,
  length: number,
  options?: ReadOptions,
): Promise<FileSpan[] | undefined> {
  if (!inMetabox) {
    ctx.meta.check(offset, length);
    return length === 0 ? Promise.resolve([]) : sourceSpans(ctx, ctx.meta.source, offset, length, options);
  }
  if (ctx.mbox === undefined)
    throw new CorruptErofsError('metadata in the metabox, but the image has no metabox', { offset });
  return ctx.mbox.fileSpans(offset, length, options);
}

/** Metadata already in the page cache (a view), or undefined; see {@link PageCache.peek}. */
export function peekMeta(
  ctx: ErofsContext,
  inMetabox: boolean,
  offset: number,
  length: number,
): Uint8Array | undefined {
  if (!inMetabox) return ctx.meta.peek(offset, length);
  return ctx.mbox?.peek(offset, length);
}

/** The source of device `deviceId` (0 = the image itself). */
export function deviceSource(ctx: ErofsContext, deviceId: number, where: ErofsLocation): ByteSource {
  if (deviceId === 0) return ctx.source;
  if (deviceId > ctx.sb.extraDevices) {
    throw new CorruptErofsError(`device id ${deviceId} is beyond the ${ctx.sb.extraDevices} extra devices`, where);
  }
  const dev = ctx.devices[deviceId - 1];
  if (dev === undefined) throw new ErofsDeviceMissingError(deviceId, where);
  return dev;
}

/**
 * Resolves a physical address in the unified address space (`erofs_map_dev` with device id 0):
 * with a device table, an address inside an extra device's `[uniaddr, uniaddr + blocks)` is on
 * that device.
 */
export function mapDevice(ctx: ErofsContext, deviceId: number, pa: number): { deviceId: number; pa: number } {
  if (deviceId !== 0 || ctx.sb.devices.length === 0) return { deviceId, pa };
  const bs = ctx.sb.blockSize;
  for (let i = 0; i < ctx.sb.devices.length; i++) {
    const d = ctx.sb.devices[i];
    if (d.uniaddr === 0) continue;
    const start = d.uniaddr * bs;
    if (pa >= start && pa < start + d.blocks * bs) return { deviceId: i + 1, pa: pa - start };
  }
  return { deviceId: 0, pa };
}

/**
 * Reads `length` bytes of data at physical address `pa` of device `deviceId`, refusing ranges
 * outside the device with an error naming the block and the inode. A `readaheadLimit` is in
 * the same address space as `pa`.
 */
export function readPhysical(
  ctx: ErofsContext,
  deviceId: number,
  pa: number,
  length: number,
  nid: bigint,
  options?: ReadOptions,
): Promise<Uint8Array> {
  const { src, pa: at } = physicalSource(ctx, deviceId, pa, length, nid);
  if (length === 0) return Promise.resolve(new Uint8Array(0));
  if (options?.readaheadLimit !== undefined && at !== pa)
    options = { ...options, readaheadLimit: options.readaheadLimit - pa + at };
  return src.read(at, length, options);
}

/**
 * The local-file spans of `length` bytes of data at `pa` of device `deviceId` (see
 * {@link ByteSource.fileSpans}), or undefined when the device is not in local files. Refuses
 * ranges outside the device like {@link readPhysical}.
 */
export async function physicalSpans(
  ctx: ErofsContext,
  deviceId: number,
  pa: number,
  length: number,
  nid: bigint,
  options?: ReadOptions,
): Promise<FileSpan[] | undefined> {
  const { src, pa: at } = physicalSource(ctx, deviceId, pa, length, nid);
  if (length === 0) return [];
  return sourceSpans(ctx, src, at, length, options);
}

function physicalSource(
  ctx: ErofsContext,
  deviceId: number,
  pa: number,
  length: number,
  nid: bigint,
): { src: ByteSource; pa: number } {
  const mapped = mapDevice(ctx, deviceId, pa);
  const where = { nid, block: Math.floor(pa / ctx.sb.blockSize) };
  const src = deviceSource(ctx, mapped.deviceId, where);
  if (!Number.isSafeInteger(mapped.pa) || mapped.pa < 0 || mapped.pa + length > src.size) {
    throw new CorruptErofsError(
      `data at ${mapped.pa}+${length} lies outside ${mapped.deviceId ? `device ${mapped.deviceId}` : 'the image'} (${src.size} bytes)`,
      where,
    );
  }
  return { src, pa: mapped.pa };
}
