/**
 * Compressed file data for EROFS: fixed-size input clusters (16 blocks, the last one shorter)
 * each compressed on its own into a physical cluster of whole blocks, the compressed bytes at
 * the cluster's end behind zero padding (`EROFS_FEATURE_INCOMPAT_ZERO_PADDING`, which every
 * algorithm but legacy LZ4 requires). A cluster that does not save a block is stored
 * uncompressed, one block per extent (full indexes give an uncompressed extent one block).
 * The indexes are the full `struct z_erofs_lcluster_index` form, one per 4 KiB logical cluster,
 * with big physical clusters (`Z_EROFS_ADVISE_BIG_PCLUSTER_1`: the first NONHEAD of an extent
 * holds the cluster's block count).
 *
 * LZ4 libraries compress a given input, not "as much input as fits a block" (LZ4's destSize
 * mode, which mkfs.erofs uses for 4 KiB physical clusters); big physical clusters make a fixed
 * input work instead.
 *
 * @packageDocumentation
 */
import { deflateRaw } from 'node:zlib';
import { promisify } from 'node:util';
import { lz4CompressBlock, lz4hcCompressBlock } from '../../codec/lz4-encode.js';
import {
  LCLUSTER_INDEX,
  Z_EROFS_COMPRESSION_DEFLATE,
  Z_EROFS_COMPRESSION_LZ4,
  Z_EROFS_LCLUSTER_TYPE_HEAD1,
  Z_EROFS_LCLUSTER_TYPE_NONHEAD,
  Z_EROFS_LCLUSTER_TYPE_PLAIN,
  Z_EROFS_LI_D0_CBLKCNT,
} from '../../erofs/format.js';

const deflateRawAsync = promisify(deflateRaw);

/** Compression of EROFS file data. */
export type ErofsCompression = 'none' | 'lz4' | 'lz4hc' | 'deflate';

/** Every value of {@link ErofsCompression}. */
export const EROFS_COMPRESSIONS: readonly ErofsCompression[] = ['none', 'lz4', 'lz4hc', 'deflate'];

/** Blocks of input per compressed cluster (64 KiB with 4 KiB blocks). */
export const CLUSTER_BLOCKS = 16;

/** deflate window bits written in the superblock's `z_erofs_deflate_cfgs`. */
export const DEFLATE_WINDOW_BITS = 15;

/** The `Z_EROFS_COMPRESSION_*` algorithm number of a compression. */
export function algorithmOf(c: Exclude<ErofsCompression, 'none'>): number {
  return c === 'deflate' ? Z_EROFS_COMPRESSION_DEFLATE : Z_EROFS_COMPRESSION_LZ4;
}

/** Compresses one cluster's input; the result is a complete stream of the algorithm. */
export async function compressCluster(c: Exclude<ErofsCompression, 'none'>, input: Uint8Array): Promise<Uint8Array> {
  switch (c) {
    case 'lz4':
      return lz4CompressBlock(input);
    case 'lz4hc':
      return lz4hcCompressBlock(input);
    case 'deflate':
      return new Uint8Array(await deflateRawAsync(input, { level: 9, windowBits: DEFLATE_WINDOW_BITS }));
  }
}

/** One extent of a compressed file, in file order. */
export interface ZExtentOut {
  /** Logical bytes. */
  length: number;
  /** Stored uncompressed (one block). */
  raw: boolean;
  /** First block of the physical cluster. */
  pblk: number;
  /** Blocks of the physical cluster. */
  pblocks: number;
}

/**
 * The physical cluster for `compressed` output of `inputLength` bytes, or undefined when it
 * saves no block (store the input uncompressed). A stream whose first byte is zero would lose
 * it to the padding scan (`z_erofs_fixup_insize` skips leading zeros), so it is not used either.
 */
export function padCluster(compressed: Uint8Array, inputLength: number, blockSize: number): Uint8Array | undefined {
  const blocks = Math.ceil(compressed.length / blockSize);
  if (compressed.length === 0 || compressed[0] === 0 || blocks >= Math.ceil(inputLength / blockSize)) return undefined;
  const out = new Uint8Array(blocks * blockSize);
  out.set(compressed, out.length - compressed.length);
  return out;
}

/**
 * The full lcluster indexes of a file of `size` bytes made of `extents` (lcluster = block),
 * as erofs-utils writes them: a HEAD (or PLAIN) per extent start, NONHEADs with the distances
 * back to the head (`delta[0]`; in the first one the physical block count, CBLKCNT) and ahead
 * to the next head (`delta[1]`), and a final PLAIN index whose `clusterofs` ends the last
 * extent inside the file's last partial lcluster.
 */
export function fullIndexes(extents: readonly ZExtentOut[], blockSize: number): Uint8Array {
  const bbits = Math.log2(blockSize);
  const total = extents.reduce((n, e) => n + e.length, 0);
  const out = new Uint8Array(Math.ceil(total / blockSize) * LCLUSTER_INDEX.size);
  const dv = new DataView(out.buffer);
  let p = 0;
  const put = (advise: number, clusterofs: number, u: number | [number, number]) => {
    dv.setUint16(p + LCLUSTER_INDEX.di_advise, advise, true);
    dv.setUint16(p + LCLUSTER_INDEX.di_clusterofs, clusterofs, true);
    if (typeof u === 'number') dv.setUint32(p + LCLUSTER_INDEX.blkaddr, u, true);
    else {
      dv.setUint16(p + LCLUSTER_INDEX.delta0, u[0], true);
      dv.setUint16(p + LCLUSTER_INDEX.delta1, u[1], true);
    }
    p += LCLUSTER_INDEX.size;
  };
  let clusterofs = 0;
  for (const e of extents) {
    const headType = e.raw ? Z_EROFS_LCLUSTER_TYPE_PLAIN : Z_EROFS_LCLUSTER_TYPE_HEAD1;
    let count = e.length;
    let d0 = 0;
    let d1 = (clusterofs + count) >> bbits;
    if (d1 === 0) {
      // The extent ends inside the lcluster it starts in.
      put(headType, clusterofs, e.pblk);
      clusterofs = 0;
      continue;
    }
    do {
      if (d0 === 0) put(headType, clusterofs, e.pblk);
      else if (d0 === 1) put(Z_EROFS_LCLUSTER_TYPE_NONHEAD, clusterofs, [e.pblocks | Z_EROFS_LI_D0_CBLKCNT, d1]);
      else put(Z_EROFS_LCLUSTER_TYPE_NONHEAD, clusterofs, [Math.min(d0, Z_EROFS_LI_D0_CBLKCNT - 1), d1]);
      count -= blockSize - clusterofs;
      clusterofs = 0;
      d0++;
      d1--;
    } while (clusterofs + count >= blockSize);
    clusterofs += count;
  }
  if (clusterofs) put(Z_EROFS_LCLUSTER_TYPE_PLAIN, clusterofs, 0);
  if (p !== out.length) throw new Error(`internal: ${p / 8} lcluster indexes for ${out.length / 8} lclusters`);
  return out;
}
