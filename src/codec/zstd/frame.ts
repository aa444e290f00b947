/**
 * Zstandard frame headers and frame boundaries (RFC 8878 §3.1), without decoding any block:
 * what a layer reader needs to find the independently decodable frames of a stream (the
 * zstd:chunked and seekable formats put one file or chunk per frame and their indexes in
 * skippable frames).
 *
 * @packageDocumentation
 */
import { CorruptCompressedDataError } from '../errors.js';

/** Magic number of a zstd frame (little-endian bytes 28 B5 2F FD). */
export const ZSTD_MAGIC = 0xfd2fb528;
/** Skippable frames have magics 0x184D2A50 to 0x184D2A5F. */
export const ZSTD_SKIPPABLE_MAGIC_MIN = 0x184d2a50;

/** The fields of a zstd frame header. */
export interface ZstdFrameHeader {
  /** Bytes of the header, magic included. */
  headerSize: number;
  /** Window size the frame needs (for single-segment frames: the content size). */
  windowSize: number;
  /** Decoded size when the header states it. */
  contentSize: number | undefined;
  /** A 4-byte XXH64-based checksum follows the last block. */
  hasChecksum: boolean;
  /** Dictionary ID, 0 when none. */
  dictionaryId: number;
  singleSegment: boolean;
}

/** One frame found by {@link scanZstdFrames}. */
export type ZstdFrameInfo =
  | {
      type: 'frame';
      /** Offset of the frame's magic in the scanned bytes. */
      offset: number;
      /** Bytes of the whole frame (header, blocks, checksum). */
      compressedSize: number;
      /** Decoded size from the header, when stated. */
      contentSize: number | undefined;
      /** Window size the frame needs to be decoded. */
      windowSize: number;
      hasChecksum: boolean;
      dictionaryId: number;
      /** Number of blocks. */
      blocks: number;
    }
  | {
      type: 'skippable';
      offset: number;
      /** Bytes of the whole frame (8-byte header + data). */
      compressedSize: number;
      /** Low 4 bits of the magic (0–15): which kind of skippable frame. */
      magicVariant: number;
      /** Offset and size of the frame's user data. */
      dataOffset: number;
      dataSize: number;
    };

function corrupt(reason: string, offset: number): CorruptCompressedDataError {
  return new CorruptCompressedDataError('zstd', reason, { offset });
}

function u32(src: Uint8Array, p: number): number {
  return (src[p] | (src[p + 1] << 8) | (src[p + 2] << 16) | (src[p + 3] << 24)) >>> 0;
}

/**
 * Parses the frame header at `src[p]` (magic included). Returns undefined when `src` ends before
 * the header does (a streaming caller waits for more bytes).
 *
 * @throws CorruptCompressedDataError on a bad magic, reserved bit or window size
 */
export function parseZstdFrameHeader(src: Uint8Array, p: number, end = src.length): ZstdFrameHeader | undefined {
  if (end - p < 5) return undefined;
  if (u32(src, p) !== ZSTD_MAGIC) throw corrupt(`bad frame magic 0x${u32(src, p).toString(16)}`, p);
  const fhd = src[p + 4];
  if ((fhd & 8) !== 0) throw corrupt('reserved bit set in the frame header', p + 4);
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd & 32) !== 0;
  const hasChecksum = (fhd & 4) !== 0;
  const didFlag = fhd & 3;
  const didSize = [0, 1, 2, 4][didFlag];
  const fcsSize = fcsFlag === 0 ? (singleSegment ? 1 : 0) : [0, 2, 4, 8][fcsFlag];
  const headerSize = 5 + (singleSegment ? 0 : 1) + didSize + fcsSize;
  if (end - p < headerSize) return undefined;
  let q = p + 5;
  let windowSize = 0;
  if (!singleSegment) {
    const wd = src[q++];
    const windowLog = 10 + (wd >> 3);
    const base = 2 ** windowLog;
    windowSize = base + (base / 8) * (wd & 7);
  }
  let dictionaryId = 0;
  for (let i = 0; i < didSize; i++) dictionaryId += src[q + i] * 2 ** (8 * i);
  q += didSize;
  let contentSize: number | undefined;
  if (fcsSize > 0) {
    let v = 0;
    for (let i = fcsSize - 1; i >= 0; i--) v = v * 256 + src[q + i];
    if (fcsSize === 8 && (src[q + 7] !== 0 || src[q + 6] > 0x1f)) throw corrupt('frame content size above 2^53', q);
    contentSize = fcsSize === 2 ? v + 256 : v;
  }
  if (singleSegment) windowSize = contentSize as number;
  return { headerSize, windowSize, contentSize, hasChecksum, dictionaryId, singleSegment };
}

/**
 * Lists the frames of a complete zstd stream (regular and skippable) by walking frame and block
 * headers only, so it costs a few reads per 128 KiB block.
 *
 * @throws CorruptCompressedDataError when the bytes are not a sequence of whole frames
 */
export function scanZstdFrames(src: Uint8Array): ZstdFrameInfo[] {
  const frames: ZstdFrameInfo[] = [];
  let p = 0;
  while (p < src.length) {
    if (src.length - p < 4) throw corrupt('stream ends inside a frame magic', p);
    const magic = u32(src, p);
    if ((magic & 0xfffffff0) === ZSTD_SKIPPABLE_MAGIC_MIN) {
      if (src.length - p < 8) throw corrupt('stream ends inside a skippable frame header', p);
      const dataSize = u32(src, p + 4);
      if (p + 8 + dataSize > src.length) throw corrupt('stream ends inside a skippable frame', p);
      frames.push({
        type: 'skippable',
        offset: p,
        compressedSize: 8 + dataSize,
        magicVariant: magic & 15,
        dataOffset: p + 8,
        dataSize,
      });
      p += 8 + dataSize;
      continue;
    }
    const h = parseZstdFrameHeader(src, p);
    if (!h) throw corrupt('stream ends inside a frame header', p);
    let q = p + h.headerSize;
    let blocks = 0;
    for (;;) {
      if (q + 3 > src.length) throw corrupt('stream ends inside a block header', q);
      const bh = src[q] | (src[q + 1] << 8) | (src[q + 2] << 16);
      const type = (bh >> 1) & 3;
      const size = bh >>> 3;
      if (type === 3) throw corrupt('reserved block type', q);
      q += 3 + (type === 1 ? 1 : size);
      blocks++;
      if (q > src.length) throw corrupt('stream ends inside a block', q);
      if (bh & 1) break;
    }
    if (h.hasChecksum) q += 4;
    if (q > src.length) throw corrupt('stream ends inside a frame checksum', q);
    frames.push({
      type: 'frame',
      offset: p,
      compressedSize: q - p,
      contentSize: h.contentSize,
      windowSize: h.windowSize,
      hasChecksum: h.hasChecksum,
      dictionaryId: h.dictionaryId,
      blocks,
    });
    p = q;
  }
  return frames;
}
