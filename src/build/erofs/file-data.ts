/**
 * Writes one regular file's content into the image's data area as it streams in, and says
 * where it went:
 * - `flat`: contiguous blocks, the last partial block kept (when it may be inlined after the
 *   inode, `EROFS_INODE_FLAT_INLINE`) or written padded (`EROFS_INODE_FLAT_PLAIN`);
 * - `chunked`: a sparse file, one block-map entry per chunk, holes `EROFS_NULL_ADDR`
 *   (`EROFS_INODE_CHUNK_BASED`);
 * - `compressed`: clusters compressed (several in flight on the thread pool, written in order),
 *   full lcluster indexes (`EROFS_INODE_COMPRESSED_FULL`).
 * A file of one cluster whose compression does not beat flat storage is stored flat.
 *
 * @packageDocumentation
 */
import { throwIfAborted } from '../../errors.js';
import type { ContentPiece } from '../entry.js';
import type { BlockFile } from './block-file.js';
import { CLUSTER_BLOCKS, compressCluster, padCluster, type ErofsCompression, type ZExtentOut } from './compress.js';

/** Where a regular file's content is. */
export type FileData =
  | { kind: 'flat'; startBlk: number; blocks: number; tail?: Uint8Array }
  | { kind: 'chunked'; chunkBits: number; map: Uint32Array }
  | { kind: 'compressed'; blocks: number; extents: ZExtentOut[] };

/** `EROFS_NULL_ADDR` of a block map entry. */
export const NULL_BLOCK = 0xffffffff;
/** Most chunks one sparse file's block map gets (4 MiB of map). */
const MAX_CHUNKS = 1 << 20;
/** Compressed clusters in flight at once. */
const IN_FLIGHT = 8;
/** Bytes gathered per write of flat data. */
const FLAT_UNIT = 1 << 20;

/** What a file writer needs. */
export interface FileWriteContext {
  out: BlockFile;
  compression: ErofsCompression;
  /** May a tail of this many bytes be kept for inlining (the memory budget, the inode's room)? */
  keepTail(bytes: number): boolean;
  signal?: AbortSignal;
}

/**
 * Feeds `content` as consecutive units of `unit` bytes over `[0, size)` (the last one shorter),
 * zeros where no piece wrote; `hasData` is false for a unit no piece touched (a hole).
 */
async function eachUnit(
  content: AsyncIterable<ContentPiece>,
  size: number,
  unit: number,
  signal: AbortSignal | undefined,
  onUnit: (bytes: Uint8Array, index: number, hasData: boolean) => Promise<void>,
): Promise<void> {
  const units = Math.ceil(size / unit);
  let index = 0;
  let buf = new Uint8Array(Math.min(unit, size));
  let hasData = false;
  const emit = async () => {
    await onUnit(buf, index, hasData);
    index++;
    hasData = false;
    if (index < units) buf = new Uint8Array(Math.min(unit, size - index * unit));
  };
  for await (const piece of content) {
    throwIfAborted(signal);
    let off = piece.offset;
    let p = 0;
    const data = piece.data;
    while (p < data.length && off < size) {
      while (index < Math.floor(off / unit)) await emit();
      const inUnit = off - index * unit;
      const n = Math.min(data.length - p, buf.length - inUnit);
      buf.set(data.subarray(p, p + n), inUnit);
      hasData = true;
      p += n;
      off += n;
      if (inUnit + n === buf.length) await emit();
    }
  }
  while (index < units) await emit();
}

/** Writes a file's content (`size > 0`) and returns where it is. */
export async function writeFileData(
  content: AsyncIterable<ContentPiece>,
  size: number,
  sparse: boolean,
  ctx: FileWriteContext,
): Promise<FileData> {
  const bs = ctx.out.blockSize;
  if (sparse) return writeChunked(content, size, ctx);
  if (ctx.compression !== 'none' && size > bs) {
    const cluster = CLUSTER_BLOCKS * bs;
    if (size > cluster) return writeCompressed(content, size, ctx);
    let whole: Uint8Array = new Uint8Array(0);
    await eachUnit(content, size, size, ctx.signal, async (b) => {
      whole = b;
    });
    const padded = padCluster(await compressCluster(ctx.compression, whole), size, bs);
    // One cluster: compressed only when it beats flat storage with an inlined tail.
    if (padded && padded.length / bs < Math.floor(size / bs)) {
      const pblk = await ctx.out.append(padded);
      const pblocks = padded.length / bs;
      return { kind: 'compressed', blocks: pblocks, extents: [{ length: size, raw: false, pblk, pblocks }] };
    }
    return writeFlat(oneShot(whole), size, ctx);
  }
  return writeFlat(content, size, ctx);
}

async function* oneShot(data: Uint8Array): AsyncGenerator<ContentPiece> {
  yield { offset: 0, data };
}

async function writeFlat(content: AsyncIterable<ContentPiece>, size: number, ctx: FileWriteContext): Promise<FileData> {
  const bs = ctx.out.blockSize;
  const full = Math.floor(size / bs);
  const tailLen = size - full * bs;
  const keep = tailLen > 0 && ctx.keepTail(tailLen);
  let startBlk = -1;
  let blocks = full;
  let tail: Uint8Array | undefined;
  const units = Math.ceil(size / FLAT_UNIT);
  await eachUnit(content, size, FLAT_UNIT, ctx.signal, async (bytes, index) => {
    let data = bytes;
    if (index === units - 1 && tailLen > 0) {
      const cut = data.length - tailLen;
      if (keep) {
        tail = data.slice(cut);
        data = data.subarray(0, cut);
      } else {
        blocks++;
      }
    }
    if (data.length === 0) return;
    const at = await ctx.out.append(data);
    if (startBlk < 0) startBlk = at;
  });
  return { kind: 'flat', startBlk: startBlk < 0 ? 0 : startBlk, blocks, ...(tail ? { tail } : {}) };
}

/** The chunk size bits (over the block size) that keep a file's map within {@link MAX_CHUNKS}. */
function chunkBitsFor(size: number, bs: number): number {
  let bits = 0;
  while (Math.ceil(size / (bs * 2 ** bits)) > MAX_CHUNKS) bits++;
  return bits;
}

async function writeChunked(
  content: AsyncIterable<ContentPiece>,
  size: number,
  ctx: FileWriteContext,
): Promise<FileData> {
  const bs = ctx.out.blockSize;
  const chunkBits = chunkBitsFor(size, bs);
  const chunk = bs * 2 ** chunkBits;
  const map = new Uint32Array(Math.ceil(size / chunk)).fill(NULL_BLOCK);
  await eachUnit(content, size, chunk, ctx.signal, async (bytes, index, hasData) => {
    if (hasData) map[index] = await ctx.out.append(bytes);
  });
  return { kind: 'chunked', chunkBits, map };
}

async function writeCompressed(
  content: AsyncIterable<ContentPiece>,
  size: number,
  ctx: FileWriteContext,
): Promise<FileData> {
  const bs = ctx.out.blockSize;
  const compression = ctx.compression as Exclude<ErofsCompression, 'none'>;
  const extents: ZExtentOut[] = [];
  let blocks = 0;
  const queue: { input: Uint8Array; out: Promise<Uint8Array> }[] = [];
  const writeNext = async () => {
    const { input, out } = queue.shift()!;
    const padded = padCluster(await out, input.length, bs);
    if (padded) {
      const pblk = await ctx.out.append(padded);
      const pblocks = padded.length / bs;
      extents.push({ length: input.length, raw: false, pblk, pblocks });
      blocks += pblocks;
      return;
    }
    // Not worth it: one uncompressed block per extent.
    for (let o = 0; o < input.length; o += bs) {
      const piece = input.subarray(o, Math.min(o + bs, input.length));
      const pblk = await ctx.out.append(piece);
      extents.push({ length: piece.length, raw: true, pblk, pblocks: 1 });
      blocks++;
    }
  };
  try {
    await eachUnit(content, size, CLUSTER_BLOCKS * bs, ctx.signal, async (bytes) => {
      const out = compressCluster(compression, bytes);
      out.catch(() => {}); // awaited in order by writeNext
      queue.push({ input: bytes, out });
      if (queue.length >= IN_FLIGHT) await writeNext();
    });
    while (queue.length) await writeNext();
  } finally {
    await Promise.allSettled(queue.map((q) => q.out));
  }
  return { kind: 'compressed', blocks, extents };
}
