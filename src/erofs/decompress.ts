/**
 * Turns one physical cluster into the decoded bytes of its extent, as the kernel's
 * `z_erofs_decompress` does: uncompressed clusters are copied (SHIFTED) or un-rotated
 * (INTERLACED, `z_erofs_transform_plain`); compressed ones lose their 0-padding
 * (`z_erofs_fixup_insize`) and go to the codec, in partial mode when only the head of the
 * cluster's output belongs to the extent or, for LZ4 without 0-padding, because the legacy
 * format may compress extra data into the cluster.
 *
 * @packageDocumentation
 */
import { OcifsError } from '../errors.js';
import { decodeWithCodec } from './codec-adapter.js';
import { CorruptErofsError } from './errors.js';
import {
  COMPRESSION_NAMES,
  EROFS_FEATURE_INCOMPAT_ZERO_PADDING,
  Z_EROFS_COMPRESSION_INTERLACED,
  Z_EROFS_COMPRESSION_LZ4,
  Z_EROFS_COMPRESSION_SHIFTED,
} from './format.js';
import type { ErofsSuperblock } from './superblock.js';

/** One decode request. */
export interface DecodeRequest {
  /** The cluster's raw bytes (`plen` of them). */
  raw: Uint8Array;
  /** Bytes the extent decodes to. */
  llen: number;
  /** `Z_EROFS_COMPRESSION_*` or SHIFTED / INTERLACED. */
  alg: number;
  /** File offset of the extent (INTERLACED clusters are rotated by its offset in a block). */
  la: number;
  /** Only the head of the cluster's output is wanted. */
  partial: boolean;
  /** For errors. */
  nid: bigint;
}

/** Decodes `req.raw` into exactly `req.llen` bytes or throws an error naming the inode and offset. */
export function decodeCluster(sb: ErofsSuperblock, req: DecodeRequest): Uint8Array {
  const { raw, llen, alg } = req;
  const where = { nid: req.nid, la: req.la };
  if (alg === Z_EROFS_COMPRESSION_SHIFTED) {
    if (llen > raw.length) throw new CorruptErofsError(`uncompressed extent of ${llen} bytes in ${raw.length}`, where);
    return raw.subarray(0, llen);
  }
  if (alg === Z_EROFS_COMPRESSION_INTERLACED) {
    if (llen > raw.length) throw new CorruptErofsError(`uncompressed extent of ${llen} bytes in ${raw.length}`, where);
    // The cluster is rotated: the bytes up to the file's next block boundary start
    // `bs - la % bs` bytes before the cluster's end (in a one-block cluster: at la % bs), and
    // the rest follows from the cluster's start (`z_erofs_transform_plain`).
    const bs = sb.blockSize;
    const head = bs - (req.la % bs);
    const at = raw.length - head;
    if (at < 0) throw new CorruptErofsError(`interlaced cluster of ${raw.length} bytes is shorter than a block`, where);
    const cur = Math.min(head, llen);
    const out = new Uint8Array(llen);
    out.set(raw.subarray(at, at + cur), 0);
    out.set(raw.subarray(0, llen - cur), cur);
    return out;
  }
  const codec = COMPRESSION_NAMES[alg];
  if (codec === undefined) throw new CorruptErofsError(`unknown compression algorithm ${alg}`, where);
  const zeroPadding =
    alg !== Z_EROFS_COMPRESSION_LZ4 || (sb.featureIncompat & EROFS_FEATURE_INCOMPAT_ZERO_PADDING) !== 0;
  let input = raw;
  if (zeroPadding) {
    // The kernel looks for the first non-zero byte within the first block only.
    const limit = Math.min(raw.length, sb.blockSize);
    let i = 0;
    while (i < limit && raw[i] === 0) i++;
    if (i === raw.length || raw[i] === 0)
      throw new CorruptErofsError(`${codec} cluster holds only zero padding`, where);
    input = raw.subarray(i);
  }
  // Without 0-padding an LZ4 cluster may hold more than this extent: decode just its head.
  const partial = req.partial || !zeroPadding;
  try {
    return decodeWithCodec(codec, input, llen, partial, sb);
  } catch (err) {
    if (err instanceof OcifsError && err.code === 'ERR_OCIFS_CORRUPT_COMPRESSED_DATA') {
      throw new CorruptErofsError(`${codec} cluster does not decode: ${err.message}`, where, { cause: err });
    }
    throw err;
  }
}
