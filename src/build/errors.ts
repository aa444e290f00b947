/**
 * Errors of the writers (EROFS, eStargz, zstd:chunked) and of the entry sources they read.
 *
 * @packageDocumentation
 */
import { OcifsError, type OcifsErrorOptions } from '../errors.js';

/**
 * An entry of the source cannot be written in the target format: an xattr name EROFS has no
 * prefix for, a value too large for the format, a hardlink to a member the layer does not hold.
 * `data.path` names the entry.
 */
export class UnconvertibleEntryError extends OcifsError {
  constructor(path: string, reason: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_UNCONVERTIBLE_ENTRY', `${path === '' ? '/' : `/${path}`}: ${reason}`, {
      ...options,
      data: { path, reason, ...options.data },
    });
  }
}

/** A writer was used out of order (an entry after finish, content not read before the next entry). */
export class WriterStateError extends OcifsError {
  constructor(reason: string) {
    super('ERR_OCIFS_WRITER_STATE', reason, { data: { reason } });
  }
}
