/**
 * How ocifs errors become the errno a program sees through a FUSE mount.
 *
 * Only what the image says maps to a specific errno (a missing name is ENOENT, a file used as
 * a directory ENOTDIR ...). Everything else — a corrupt image, a digest mismatch, a registry
 * that is down, a read that timed out — is EIO: the program gets an error for that read, the
 * server keeps running, and the same read succeeds once the cause is gone.
 *
 * @packageDocumentation
 */
import { constants } from 'node:os';
import { OcifsError, type OcifsErrorCode } from '../errors.js';

const E = constants.errno;

/** errno values (positive) the mount layer returns, as Linux numbers them. */
export const Errno = {
  ENOENT: E.ENOENT,
  EIO: E.EIO,
  EBADF: E.EBADF,
  EACCES: E.EACCES,
  ENOTDIR: E.ENOTDIR,
  EISDIR: E.EISDIR,
  EINVAL: E.EINVAL,
  EROFS: E.EROFS,
  ERANGE: E.ERANGE,
  ENAMETOOLONG: E.ENAMETOOLONG,
  ELOOP: E.ELOOP,
  ENODATA: E.ENODATA,
  ENOSYS: E.ENOSYS,
  ENOTSUP: E.ENOTSUP,
  EOVERFLOW: E.EOVERFLOW,
} as const;

/** Error codes whose meaning is about the image's content, each with its errno. */
const BY_CODE: Readonly<Partial<Record<OcifsErrorCode, number>>> = {
  ERR_OCIFS_NOT_FOUND: Errno.ENOENT,
  ERR_OCIFS_NOT_A_DIRECTORY: Errno.ENOTDIR,
  ERR_OCIFS_IS_A_DIRECTORY: Errno.EISDIR,
  ERR_OCIFS_NOT_A_SYMLINK: Errno.EINVAL,
  ERR_OCIFS_SYMLINK_LOOP: Errno.ELOOP,
};

/**
 * The positive errno for an error thrown while serving a request. Unknown and I/O errors
 * (corrupt image, fetch failure, timeout) are EIO — never a success with wrong bytes.
 */
export function errnoOf(err: unknown): number {
  if (err instanceof FuseErrno) return err.errno;
  if (err instanceof OcifsError) return BY_CODE[err.code] ?? Errno.EIO;
  return Errno.EIO;
}

/** A request refused with a specific errno by the mount layer itself (EROFS for a write ...). */
export class FuseErrno extends Error {
  constructor(
    readonly errno: number,
    message?: string,
  ) {
    super(message ?? `errno ${errno}`);
    this.name = 'FuseErrno';
  }
}
