/**
 * The checkpoint index of a gzip layer (the zlib `zran.c` idea): at deflate block boundaries
 * every few MiB of output, the compressed bit offset, the uncompressed offset and the 32 KiB
 * of output before it. Reading any byte of the layer then decompresses from the nearest
 * checkpoint only. Stored together with the layer's tar index (one object, one pass).
 *
 * @packageDocumentation
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { BinFormatError, BinReader, BinWriter } from './bin-codec.js';
import { CorruptIndexError } from './errors.js';
import { packIndex, unpackIndex } from './index-store.js';
import { decodeTarIndexFrom, encodeTarIndexInto, type TarIndex } from './tar-index.js';

/** Bytes of history deflate back-references may reach. */
export const WINDOW_SIZE = 32768;

/** A place where decompression can start. */
export interface GzipCheckpoint {
  /** Absolute bit offset in the compressed blob where a deflate block starts. */
  bit: number;
  /** Offset in the uncompressed stream of the first byte that block produces. */
  out: number;
  /**
   * Up to {@link WINDOW_SIZE} bytes of output before `out` (empty at the start of a member),
   * raw; or, instead, `packedWindow`. Read it with {@link checkpointWindow}.
   */
  window?: Uint8Array;
  /**
   * The window deflated (raw deflate). The gzip pass keeps windows this way: its index holds one
   * window per 4 MiB of output, 8 MiB per GiB of layer raw, and a gzip bomb decompresses to a
   * thousand times its size (1 TiB from 1 GB would be 8 GiB of windows); packed, windows of
   * zeros take a few dozen bytes and typical ones a third.
   */
  packedWindow?: Uint8Array;
  /**
   * CRC-32 of the output from this checkpoint to the next (or the end): a decoded span is
   * checked against it, so bytes that changed under the index are never served.
   */
  crc?: number;
  /**
   * `sha256:…` of the compressed bytes `[floor(bit / 8), ceil(next.bit / 8))` (or to the end),
   * when the index came from a SOCI zTOC (its `span_digests`); checked before decoding.
   */
  spanDigest?: string;
}

/** Packs a window for {@link GzipCheckpoint.packedWindow}. */
export function packWindow(raw: Uint8Array): Uint8Array {
  return raw.length === 0 ? raw : new Uint8Array(deflateRawSync(raw, { level: 1 }));
}

/**
 * The raw window of a checkpoint (unpacking a packed one, which must hold at most {@link
 * WINDOW_SIZE} bytes and no more than `out`).
 */
export function checkpointWindow(cp: GzipCheckpoint): Uint8Array {
  if (cp.packedWindow === undefined || cp.packedWindow.length === 0) return cp.window ?? new Uint8Array(0);
  let raw: Uint8Array;
  try {
    raw = inflateRawSync(cp.packedWindow, { maxOutputLength: WINDOW_SIZE });
  } catch (err) {
    throw new CorruptIndexError('gzip index', `the window of the checkpoint at ${cp.out} does not inflate`, {
      cause: err,
    });
  }
  if (raw.length > cp.out)
    throw new CorruptIndexError('gzip index', `the window of the checkpoint at ${cp.out} is ${raw.length} bytes`);
  return raw;
}

/** Checkpoints plus the tar index of one gzip layer. */
export interface GzipIndex {
  /** Size of the compressed blob. */
  blobSize: number;
  /** Size of the decompressed stream (all members). */
  tarSize: number;
  /** In increasing order; the first is at output offset 0. */
  checkpoints: GzipCheckpoint[];
  /** Entries of the tar stream inside. */
  tar: TarIndex;
}

/** IndexStore name of a serialised gzip index. */
export const GZIP_INDEX_NAME = 'gzip-index';
const MAGIC = 'OCIFSGZX';
/** Version of the serialised form; bump on any change (2: windows may be packed). */
export const GZIP_INDEX_VERSION = 2;
/** Largest packed window accepted on load (deflate's stored blocks add a few bytes to 32 KiB). */
const MAX_PACKED_WINDOW = WINDOW_SIZE + 1024;

/** Serialises a gzip index (windows are compressed with the rest). */
export async function encodeGzipIndex(index: GzipIndex): Promise<Uint8Array> {
  const w = new BinWriter();
  w.uint(index.blobSize);
  w.uint(index.tarSize);
  w.uint(index.checkpoints.length);
  let prevBit = 0;
  let prevOut = 0;
  for (const c of index.checkpoints) {
    w.uint(c.bit - prevBit);
    w.uint(c.out - prevOut);
    w.u8(c.packedWindow !== undefined ? 1 : 0);
    w.bytes(c.packedWindow ?? c.window ?? new Uint8Array(0));
    if (c.crc === undefined) throw new RangeError('only indexes built by the gzip pass (with span CRCs) are stored');
    w.uint(c.crc);
    prevBit = c.bit;
    prevOut = c.out;
  }
  encodeTarIndexInto(w, index.tar);
  return packIndex(MAGIC, GZIP_INDEX_VERSION, w.finish());
}

/** Loads a serialised gzip index, validating it; throws `ERR_OCIFS_CORRUPT_INDEX`. */
export async function decodeGzipIndex(bytes: Uint8Array): Promise<GzipIndex> {
  const what = 'gzip index';
  const payload = await unpackIndex(bytes, MAGIC, GZIP_INDEX_VERSION, what);
  const r = new BinReader(payload);
  try {
    const blobSize = r.uint();
    const tarSize = r.uint();
    const n = r.count(3);
    const checkpoints: GzipCheckpoint[] = [];
    let bit = 0;
    let out = 0;
    for (let i = 0; i < n; i++) {
      const db = r.uint();
      const dout = r.uint();
      bit += db;
      out += dout;
      const flags = r.u8();
      if (flags > 1) throw new BinFormatError(`checkpoint ${i}: bad flags`);
      const packedWindow = flags === 1;
      const window = new Uint8Array(r.bytes());
      const crc = r.uint();
      if (i > 0 && (db === 0 || dout === 0)) throw new BinFormatError(`checkpoint ${i} does not advance`);
      if (i === 0 && out !== 0) throw new BinFormatError('first checkpoint is not at offset 0');
      if (
        bit >= blobSize * 8 ||
        out > tarSize ||
        window.length > (packedWindow ? MAX_PACKED_WINDOW : Math.min(WINDOW_SIZE, out))
      ) {
        throw new BinFormatError(`checkpoint ${i} out of range`);
      }
      if (crc > 0xffffffff) throw new BinFormatError(`checkpoint ${i}: bad CRC`);
      checkpoints.push(packedWindow ? { bit, out, packedWindow: window, crc } : { bit, out, window, crc });
    }
    if (n === 0 && tarSize !== 0) throw new BinFormatError('no checkpoints');
    const tar = decodeTarIndexFrom(r, what);
    if (tar.tarSize !== tarSize) throw new BinFormatError('tar index size mismatch');
    if (r.remaining !== 0) throw new BinFormatError('trailing bytes');
    return { blobSize, tarSize, checkpoints, tar };
  } catch (err) {
    if (err instanceof BinFormatError) throw new CorruptIndexError(what, err.message, { cause: err });
    throw err;
  }
}
