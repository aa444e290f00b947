/**
 * The one place the EROFS reader calls the decompressors of `src/codec`.
 *
 * @packageDocumentation
 */
import { UnsupportedErofsError } from './errors.js';
import type { ErofsSuperblock } from './superblock.js';
import { inflateRaw } from '../codec/inflate.js';
import { lz4DecompressBlock } from '../codec/lz4.js';

/** Decodes `input` (0-padding already removed) into `outputSize` bytes. */
export function decodeWithCodec(codec: string, input: Uint8Array, outputSize: number, partial: boolean, _sb: ErofsSuperblock): Uint8Array {
  switch (codec) {
    case 'lz4':
      return lz4DecompressBlock(input, outputSize, { partial });
    case 'deflate':
      return inflateRaw(input, outputSize, { partial });
    default:
      throw new UnsupportedErofsError(`${codec} decompression is not available yet`);
  }
}
