// Shared by the codec tests: the codec API under test and an error matcher.
export * from '../../src/codec/index.js';
import { CorruptCompressedDataError, type CodecName } from '../../src/codec/index.js';

/** assert.throws matcher: a CorruptCompressedDataError of `codec` with an in-range offset. */
export function isOcifsErrorLike(codec: CodecName) {
  return (err: unknown): boolean => {
    if (!(err instanceof CorruptCompressedDataError)) throw err;
    return (
      err.code === 'ERR_OCIFS_CORRUPT_COMPRESSED_DATA' &&
      err.codec === codec &&
      err.data.codec === codec &&
      Number.isInteger(err.offset) &&
      err.offset >= 0
    );
  };
}
