/**
 * EROFS 0-padding: with the `0padding` (a.k.a. `ZERO_PADDING`/`lz4_0padding`) feature, mkfs.erofs
 * stores a compressed cluster's data at the END of its physical cluster and fills the head with
 * zero bytes, so the exact compressed size is recovered by skipping leading zeros. The kernel does
 * this for every codec (`z_erofs_fixup_insize`) and mkfs.erofs makes sure each stream starts with a
 * non-zero byte (an LZ4 block whose first token is 0 would be a 0-byte block; MicroLZMA's first
 * byte is the inverted properties byte, never 0 for valid properties; zstd starts with its magic).
 *
 * @packageDocumentation
 */
import { CorruptCompressedDataError, type CodecName } from './errors.js';

/**
 * Returns `cluster` without its leading zero bytes (a view, no copy).
 *
 * @param cluster the physical cluster's bytes
 * @param codec named in the error
 * @param maxPadding how many leading bytes may be zero; the kernel looks only within the first
 *   page (`z_erofs_fixup_insize`), so callers may pass the block or page size. Defaults to the
 *   whole cluster.
 * @throws CorruptCompressedDataError when no non-zero byte is found within `maxPadding` bytes
 */
export function stripZeroPadding(cluster: Uint8Array, codec: CodecName, maxPadding = cluster.length): Uint8Array {
  const limit = Math.min(cluster.length, Math.max(0, maxPadding));
  let i = 0;
  while (i < limit && cluster[i] === 0) i++;
  if (i === cluster.length || cluster[i] === 0) {
    throw new CorruptCompressedDataError(codec, `no compressed data after ${i} bytes of zero padding`, { offset: i });
  }
  return cluster.subarray(i);
}
