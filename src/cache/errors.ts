/**
 * Errors of the blob cache. All extend {@link OcifsError} with stable `ERR_OCIFS_CACHE_*` codes.
 *
 * @packageDocumentation
 */
import { OcifsError, ShortReadError, type OcifsErrorOptions } from '../errors.js';

/**
 * The cache directory (or one of its layout directories or ancestors) could be modified by
 * another user, so its contents could be poisoned. ocifs never serves from such a directory and
 * never changes the permissions of a directory it did not create: the message says what to fix.
 */
export class CacheInsecureError extends OcifsError {
  constructor(path: string, reason: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_CACHE_INSECURE', `refusing cache directory ${path}: ${reason}`, {
      ...options,
      data: { path, reason, ...options.data },
    });
  }
}

/**
 * A cache file failed a consistency check (bad magic, version, checksum, size, map byte). The
 * cache discards the file's blob (or sidecar) and starts over; this error reaches callers only
 * from management operations such as `verify`.
 */
export class CacheCorruptError extends OcifsError {
  constructor(path: string, reason: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_CACHE_CORRUPT', `${path}: corrupt cache file: ${reason}`, {
      ...options,
      data: { path, reason, ...options.data },
    });
  }
}

/** A cached source or cache was used after `close()`. */
export class CacheClosedError extends OcifsError {
  constructor(what: string) {
    super('ERR_OCIFS_CACHE_CLOSED', `${what} is closed`, { data: { what } });
  }
}

/** The upstream of a cached blob returned a different number of bytes than asked. */
export class UpstreamShortReadError extends ShortReadError {
  constructor(digest: string, offset: number, expected: number, got: number) {
    super(`${digest}: upstream returned ${got} bytes at offset ${offset}, expected ${expected}`, { digest, offset, expected, got });
  }
}

/** A file system operation on the cache failed for a reason other than a full disk. */
export class CacheIoError extends OcifsError {
  constructor(path: string, op: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    super('ERR_OCIFS_CACHE_IO', `${path}: ${op} failed${code ? ` (${code})` : ''}`, { cause, data: { path, op, errno: code } });
  }
}

/**
 * A blob was opened with a size that contradicts a cached copy already verified against the
 * same digest: the caller's size (from a manifest) is wrong. The cached copy is kept.
 */
export class BlobSizeMismatchError extends OcifsError {
  constructor(digest: string, expected: number, verifiedSize: number) {
    super('ERR_OCIFS_SIZE_MISMATCH', `${digest}: size ${expected} was given, but the cached copy verified against this digest has ${verifiedSize} bytes`, {
      data: { digest, expected, actual: verifiedSize },
    });
  }
}
