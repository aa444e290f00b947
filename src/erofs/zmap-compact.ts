/**
 * Bit decoding of the compact lcluster indexes (`COMPACT_2B` / `COMPACT_4B` packs), as
 * erofs-utils' `lib/zmap.c` `decode_compactedbits` and `get_compacted_la_distance`.
 *
 * @packageDocumentation
 */
import { Z_EROFS_LCLUSTER_TYPE_NONHEAD, Z_EROFS_LI_D0_CBLKCNT } from './format.js';

/** Lcluster type of the last {@link decodeCompactedBits} call (saves an allocation per call). */
export let decodedType = 0;

/** `decode_compactedbits`: the low bits of packed lcluster `idx`; its type goes to `decodedType`. */
export function decodeCompactedBits(dv: DataView, lobits: number, encodebits: number, idx: number): number {
  const bit = encodebits * idx;
  const v = dv.getUint32(bit >>> 3, true) >>> (bit & 7);
  decodedType = (v >>> lobits) & 3;
  return v & (2 ** lobits - 1);
}

/** `get_compacted_la_distance`: delta[1] of a compact NONHEAD lcluster. */
export function lookaheadDistance(dv: DataView, lobits: number, encodebits: number, i: number, vcnt: number): number {
  let d1 = 0;
  let lo = 0;
  do {
    lo = decodeCompactedBits(dv, lobits, encodebits, i);
    if (decodedType !== Z_EROFS_LCLUSTER_TYPE_NONHEAD) return d1;
    ++d1;
  } while (++i < vcnt);
  // The pack's last NONHEAD stores delta[1] itself.
  if (!(lo & Z_EROFS_LI_D0_CBLKCNT)) d1 += lo - 1;
  return Math.max(d1, 1);
}
