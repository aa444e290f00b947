/**
 * The one place the EROFS reader calls the decompressors of `src/codec`.
 *
 * @packageDocumentation
 */
import { decompress, type CodecName } from '../codec/index.js';
import type { ErofsSuperblock } from './superblock.js';

/** Decodes `input` (0-padding already removed) into `outputSize` bytes. */
export function decodeWithCodec(
  codec: CodecName,
  input: Uint8Array,
  outputSize: number,
  partial: boolean,
  sb: ErofsSuperblock,
): Uint8Array {
  return decompress(codec, input, outputSize, {
    partial,
    dictSize: codec === 'lzma' ? sb.comprCfgs.lzma?.dictSize : undefined,
  });
}
