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
    const message = `${digest}: upstream returned ${got} bytes at offset ${offset}, expected ${expected}`;
    super(message, { digest, offset, expected, got });
  }
}

/** A file system operation on the cache failed for a reason other than a full disk. */
export class CacheIoError extends OcifsError {
  constructor(path: string, op: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    const message = `${path}: ${op} failed${code ? ` (${code})` : ''}`;
    super('ERR_OCIFS_CACHE_IO', message, { cause, data: { path, op, errno: code } });
  }
}

/**
 * A blob was opened with a size that contradicts a cached copy already verified against the
 * same digest: the caller's size (from a manifest) is wrong. The cached copy is kept.
 */
export class BlobSizeMismatchError extends OcifsError {
  constructor(digest: string, expected: number, verifiedSize: number) {
    const cached = `the cached copy verified against this digest has ${verifiedSize} bytes`;
    super('ERR_OCIFS_SIZE_MISMATCH', `${digest}: size ${expected} was given, but ${cached}`, {
      data: { digest, expected, actual: verifiedSize },
    });
  }
}

/** The disk (or quota) filled up: a fill could not keep the whole blob. */
export class CacheFullError extends OcifsError {
  constructor(digest: string) {
    super('ERR_OCIFS_CACHE_FULL', `${digest}: no space left to cache the blob`, { data: { digest } });
  }
}

/** A blob that had to end complete (and so verified) in the cache is not; `reason` says why. */
export class CacheIncompleteError extends OcifsError {
  constructor(digest: string, reason = 'could not complete the blob') {
    super('ERR_OCIFS_CACHE_INCOMPLETE', `${digest}: ${reason}`, { data: { digest } });
  }
}

/** A read kept finding its chunks missing after fetching them (a bug or a store that loses writes). */
export class CacheStuckError extends OcifsError {
  constructor(digest: string, offset: number) {
    super('ERR_OCIFS_CACHE_STUCK', `${digest}: read at ${offset} made no progress`, { data: { digest, offset } });
  }
}

/** A blob's cached copy kept changing (discarded, or replaced by a verified copy) while it was read whole. */
export class CacheUnstableError extends OcifsError {
  constructor(digest: string, what: string) {
    super('ERR_OCIFS_CACHE_UNSTABLE', `${what}: its cached copy kept changing while it was indexed`, {
      data: { digest },
    });
  }
}
