/**
 * Errors of the tar, gzip-index and TOC readers.
 *
 * @packageDocumentation
 */
import { OcifsError, type OcifsErrorOptions } from '../errors.js';

/**
 * A tar stream is malformed: a bad header checksum, an impossible size or offset, an unsafe
 * name, a hardlink to nothing. `data` names the entry (when known) and the header offset.
 */
export class CorruptTarError extends OcifsError {
  constructor(reason: string, offset: number, entry?: string, options: OcifsErrorOptions = {}) {
    const what = entry === undefined ? 'tar' : `tar entry ${JSON.stringify(entry)}`;
    super('ERR_OCIFS_CORRUPT_TAR', `corrupt ${what} at offset ${offset}: ${reason}`, {
      ...options,
      data: { reason, offset, entry, ...options.data },
    });
  }
}

/** A gzip stream is malformed (bad magic, bad deflate data, CRC or length mismatch, truncation). */
export class CorruptGzipError extends OcifsError {
  constructor(reason: string, offset: number, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_CORRUPT_GZIP', `corrupt gzip stream at compressed offset ${offset}: ${reason}`, {
      ...options,
      data: { reason, offset, ...options.data },
    });
  }
}

/**
 * A stored index (tar index, gzip checkpoints, zTOC) failed validation. Callers treat it as
 * absent and rebuild it; it is never used.
 */
export class CorruptIndexError extends OcifsError {
  constructor(what: string, reason: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_CORRUPT_INDEX', `${what}: invalid index: ${reason}`, {
      ...options,
      data: { what, reason, ...options.data },
    });
  }
}

/** An eStargz / zstd:chunked footer or TOC is malformed or inconsistent with the layer. */
export class CorruptTocError extends OcifsError {
  constructor(reason: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_CORRUPT_TOC', `corrupt layer TOC: ${reason}`, { ...options, data: { reason, ...options.data } });
  }
}

/** A layer uses a feature this reader does not implement (e.g. multi-volume tar). */
export class UnsupportedLayerError extends OcifsError {
  constructor(reason: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_UNSUPPORTED_LAYER', `unsupported layer: ${reason}`, {
      ...options,
      data: { reason, ...options.data },
    });
  }
}

/**
 * A hardlink whose target is not in its own layer: the target is a file of a lower layer (docker
 * and containerd link to it in the merged tree). The merged view resolves such links; reading
 * one through its layer alone, or when no lower layer has the target, is this error.
 */
export class ExternalHardlinkError extends OcifsError {
  constructor(path: string, target: string, options: OcifsErrorOptions = {}) {
    super(
      'ERR_OCIFS_EXTERNAL_HARDLINK',
      `${path}: a hardlink to ${target}, which is not in this layer (nor, when merged, in the layers below it)`,
      {
        ...options,
        data: { path, target, ...options.data },
      },
    );
  }
}
