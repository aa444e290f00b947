import { OcifsError, type OcifsErrorOptions } from '../errors.js';

/** A manifest, index or config is malformed, too big, of an unsupported type, or fails its digest. */
export class BadManifestError extends OcifsError {
  constructor(message: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_BAD_MANIFEST', message, options);
  }
}

/** No manifest of an index matches the requested platform; `data.available` lists what there is. */
export class PlatformNotFoundError extends OcifsError {
  constructor(wanted: string, available: string[], options: OcifsErrorOptions = {}) {
    super(
      'ERR_OCIFS_PLATFORM_NOT_FOUND',
      `no image for platform ${wanted}` +
        (available.length > 0 ? ` (available: ${available.join(', ')})` : ' (the index lists no platforms)'),
      { ...options, data: { wanted, available, ...options.data } },
    );
  }
}

/** A platform string such as `linux/arm64/v8` is malformed. */
export class InvalidPlatformError extends OcifsError {
  constructor(input: string, reason: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_INVALID_PLATFORM', `invalid platform ${JSON.stringify(input)}: ${reason}`, {
      ...options,
      data: { input, reason, ...options.data },
    });
  }
}

/**
 * A directory that should be an OCI image layout and is not (`ocifs serve-layout`, a
 * conversion's `oci:DIR` destination). `data.dir` names it.
 */
export class NotALayoutError extends OcifsError {
  constructor(dir: string, reason: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_NOT_A_LAYOUT', `${dir}: ${reason}`, { ...options, data: { dir, ...options.data } });
  }
}
