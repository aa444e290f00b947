/**
 * Recognises what a layer blob holds from its first bytes (and its media type as a hint):
 * EROFS (superblock magic at 1024), gzip, zstd, or an uncompressed tar.
 */
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { OcifsError } from '../errors.js';

/** Formats a layer blob can have. */
export type LayerFormat = 'erofs' | 'tar' | 'tar+gzip' | 'tar+zstd';

/** EROFS superblock magic, little-endian at byte 1024 (`EROFS_SUPER_MAGIC_V1`). */
const EROFS_MAGIC = 0xe0f5e1e2;
const EROFS_SB_OFFSET = 1024;

/** A layer whose bytes are none of the formats ocifs reads. */
export class UnknownLayerFormatError extends OcifsError {
  constructor(what: string, mediaType: string | undefined) {
    super(
      'ERR_OCIFS_UNKNOWN_LAYER_FORMAT',
      `${what}: not an EROFS image, tar, tar+gzip or tar+zstd layer${mediaType ? ` (media type ${mediaType})` : ''}`,
      {
        data: { mediaType },
      },
    );
  }
}

/** Detects the format of a layer from its bytes; `what` names it in errors. */
export async function detectLayerFormat(
  source: ByteSource,
  what: string,
  mediaType?: string,
  options: ReadOptions = {},
): Promise<LayerFormat> {
  const head = await source.read(0, Math.min(source.size, EROFS_SB_OFFSET + 4), options);
  if (head.byteLength >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'tar+gzip';
  if (head.byteLength >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd)
    return 'tar+zstd';
  if (head.byteLength >= EROFS_SB_OFFSET + 4) {
    const magic = new DataView(head.buffer, head.byteOffset + EROFS_SB_OFFSET, 4).getUint32(0, true);
    if (magic === EROFS_MAGIC) return 'erofs';
  }
  if (isTarStart(head, source.size)) return 'tar';
  throw new UnknownLayerFormatError(what, mediaType);
}

/** A tar starts with a ustar/GNU header, or is an empty archive (zero blocks). */
function isTarStart(head: Uint8Array, size: number): boolean {
  if (size === 0) return true;
  if (head.byteLength >= 263) {
    const magic = String.fromCharCode(...head.subarray(257, 262));
    if (magic === 'ustar') return true;
  }
  // A v7 tar has no magic: accept a header block whose checksum field verifies.
  if (head.byteLength < 512) return size % 512 === 0 && head.every((b) => b === 0);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : head[i];
  const field = String.fromCharCode(...head.subarray(148, 156))
    .replace(/[\0 ]+$/, '')
    .trim();
  if (/^[0-7]+$/.test(field)) return parseInt(field, 8) === sum;
  return head.subarray(0, 512).every((b) => b === 0);
}
