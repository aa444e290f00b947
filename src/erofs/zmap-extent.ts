/**
 * The unit the compression map hands out: one whole decoded extent of a compressed inode. Its
 * own file so that the map (`zmap.ts`) and the extent-record walk (`zmap-extents.ts`) both
 * name it without importing each other.
 *
 * @packageDocumentation
 */

/** One decoded extent of a compressed file: `[la, la + llen)` of the file. */
export type ZExtent =
  | { kind: 'hole'; la: number; llen: number }
  | {
      kind: 'encoded' | 'inline';
      la: number;
      llen: number;
      /** Physical address (unified address space) or, for inline, metadata offset of the pcluster. */
      pa: number;
      plen: number;
      /** `Z_EROFS_COMPRESSION_*`, or SHIFTED / INTERLACED for uncompressed (PLAIN) clusters. */
      alg: number;
      /** Only the head of the cluster's decoded data belongs here (`Z_EROFS_LI_PARTIAL_REF`, dedupe). */
      partialRef: boolean;
    }
  | { kind: 'fragment'; la: number; llen: number; /** offset of `la` in the packed inode */ fragmentOff: number };
