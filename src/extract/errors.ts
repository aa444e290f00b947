/**
 * Errors of host extraction: a destination conflict, a failed write, content of the wrong size
 * or that does not decode.
 *
 * @packageDocumentation
 */
import { OcifsError, type OcifsErrorOptions } from '../errors.js';
import { CorruptCompressedDataError } from '../codec/errors.js';
import { abbreviatePaths } from '../vfs/tool-errors.js';

/** Extraction would replace or write through something in the destination it must not touch. */
export class ExtractConflictError extends OcifsError {
  constructor(path: string, reason: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_EXTRACT_CONFLICT', `${path}: ${reason}`, { ...options, data: { path, ...options.data } });
  }
}

/** Writing the extracted tree failed on the host (disk full, permission denied ...); names the path. */
export class ExtractIoError extends OcifsError {
  constructor(path: string, operation: string, cause: unknown) {
    const errno = (cause as { code?: unknown })?.code;
    super(
      'ERR_OCIFS_EXTRACT_IO',
      abbreviatePaths(`${path}: ${operation} failed: ${(cause as Error)?.message ?? String(cause)}`),
      {
        cause,
        data: { path, operation, errno: typeof errno === 'string' ? errno : undefined },
      },
    );
  }
}

/** An inode's content does not have the size its metadata says (corrupt image or reader bug). */
export class ContentSizeError extends OcifsError {
  constructor(path: string, expected: number, actual: number) {
    super('ERR_OCIFS_CORRUPT_SIZE', `${path}: inode says ${expected} bytes but its content has ${actual}`, {
      data: { path, expected, actual },
    });
  }
}

/**
 * Encoded content handed to the extractor's writer (an LZ4 cluster of an EROFS image) did not
 * decode to what the image says: corrupt image. The codecs' own error, from the writer thread,
 * which checks the block whole: `offset` is 0, the block's position is in the message.
 */
export class ContentDecodeError extends CorruptCompressedDataError {
  constructor(path: string, reason: string, options: OcifsErrorOptions = {}) {
    super('lz4', reason, { offset: 0 }, { ...options, data: { path, ...options.data } });
    this.message = `${path}: ${reason}`;
  }
}
