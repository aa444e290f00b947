/**
 * The "zinfo" half of a zTOC: how to start decompressing at each span, in the exact bytes soci
 * writes, and the digests of each span's compressed bytes.
 *
 * Gzip (`ztoc/compression/gzip_zinfo.c`, `zinfo_to_blob`, version 2), little-endian: i32
 * checkpoint count, i64 span size, then per checkpoint i64 `in` (first whole compressed byte of
 * the span), i64 `out` (uncompressed offset), u8 `bits` (bits of byte `in - 1` that belong to
 * the span) and the 32 KiB window (the output before `out`, zero-filled in front near the start).
 *
 * Uncompressed tar (`ztoc/compression/tar_zinfo.go`): a FlatBuffers `TarZinfo { version: int32;
 * span_size: int64; size: int64 }`, spans being fixed slices of the blob.
 *
 * Span `i` covers the compressed bytes `[in_i - (bits_i ? 1 : 0), in_{i+1})` (the last one to the
 * end of the blob), as `getPerSpanDigests` in `ztoc/zinfo_builder.go` hashes them.
 *
 * @packageDocumentation
 */
import { createHash, type Hash } from 'node:crypto';
import { Builder } from 'flatbuffers';
import type { ByteSource, ReadOptions } from '../../io/byte-source.js';
import { readPieces } from '../../io/read-stream.js';
import { WINDOW_SIZE, checkpointWindow, type GzipCheckpoint } from '../../tar/index.js';

/** Version of the gzip zinfo blob soci writes (`ZINFO_VERSION_CUR`, all checkpoints stored). */
export const GZIP_ZINFO_VERSION = 2;
/** Bytes per packed checkpoint: in, out, bits, window. */
export const PACKED_CHECKPOINT_SIZE = 8 + 8 + 1 + WINDOW_SIZE;

/** A compressed byte range `[start, end)`. */
export interface ByteRange {
  start: number;
  end: number;
}

/** Packs gzip checkpoints into soci's zinfo blob (see the module comment). */
export function packGzipZinfo(checkpoints: readonly GzipCheckpoint[], spanSize: number): Uint8Array {
  const out = new Uint8Array(12 + checkpoints.length * PACKED_CHECKPOINT_SIZE);
  const v = new DataView(out.buffer);
  v.setInt32(0, checkpoints.length, true);
  v.setBigInt64(4, BigInt(spanSize), true);
  checkpoints.forEach((c, k) => {
    const p = 12 + k * PACKED_CHECKPOINT_SIZE;
    const inBytes = Math.ceil(c.bit / 8);
    v.setBigInt64(p, BigInt(inBytes), true);
    v.setBigInt64(p + 8, BigInt(c.out), true);
    out[p + 16] = inBytes * 8 - c.bit;
    // The window ends right before `out`; anything before the stream start stays zero.
    const window = checkpointWindow(c);
    out.set(
      window.subarray(Math.max(0, window.length - WINDOW_SIZE)),
      p + 17 + WINDOW_SIZE - Math.min(WINDOW_SIZE, window.length),
    );
  });
  return out;
}

/** The compressed range each gzip span's digest covers. */
export function gzipSpanRanges(checkpoints: readonly GzipCheckpoint[], blobSize: number): ByteRange[] {
  return checkpoints.map((c, k) => ({
    start: Math.floor(c.bit / 8),
    end: k + 1 < checkpoints.length ? Math.ceil(checkpoints[k + 1].bit / 8) : blobSize,
  }));
}

/** soci's `TarZinfo` table for an uncompressed layer. */
export function packTarZinfo(spanSize: number, size: number): Uint8Array {
  const b = new Builder(64);
  b.startObject(3);
  b.addFieldInt32(0, GZIP_ZINFO_VERSION, 0);
  b.addFieldInt64(1, BigInt(spanSize), 0n);
  b.addFieldInt64(2, BigInt(size), 0n);
  b.finish(b.endObject());
  return b.asUint8Array();
}

/** The fixed spans of an uncompressed layer (soci's `TarZinfo.MaxSpanID`: at least one). */
export function tarSpanRanges(spanSize: number, size: number): ByteRange[] {
  const n = Math.max(1, Math.ceil(size / spanSize));
  return Array.from({ length: n }, (_, i) => ({ start: i * spanSize, end: Math.min(size, (i + 1) * spanSize) }));
}

/**
 * `sha256:…` of each range of `blob`, in one sequential read (ranges in order; neighbours may
 * share a byte, as gzip spans that start inside a byte do).
 */
export async function spanDigests(
  blob: ByteSource,
  ranges: readonly ByteRange[],
  options: ReadOptions = {},
): Promise<string[]> {
  const hashes: (Hash | undefined)[] = ranges.map(() => undefined);
  const out: string[] = new Array<string>(ranges.length);
  let first = 0;
  let pos = 0;
  const close = (j: number) => {
    out[j] = `sha256:${(hashes[j] ?? createHash('sha256')).digest('hex')}`;
    hashes[j] = undefined;
  };
  for await (const piece of readPieces(blob, {
    ...(options.signal ? { signal: options.signal } : {}),
    pieceSize: 4 * 1024 * 1024,
    readAhead: 2,
  })) {
    const end = pos + piece.byteLength;
    for (let j = first; j < ranges.length && ranges[j].start < end; j++) {
      const r = ranges[j];
      const a = Math.max(r.start, pos);
      const b = Math.min(r.end, end);
      if (b > a) (hashes[j] ??= createHash('sha256')).update(piece.subarray(a - pos, b - pos));
      if (r.end <= end) {
        close(j);
        if (j === first) first++;
      }
    }
    pos = end;
  }
  for (let j = first; j < ranges.length; j++) if (out[j] === undefined) close(j);
  return out;
}
