/**
 * Errors of the push side. A push fails in a few ways a user must tell apart at once: no
 * push rights (fix the credentials), the registry refusing what was sent (a manifest, a
 * subject, a digest: fix the content or the registry), and an upload the registry lost.
 *
 * @packageDocumentation
 */
import type { OcifsErrorOptions } from '../../errors.js';
import { DeniedError, RegistryError, UnauthorizedError } from '../errors.js';

/** The registry (or its token server) does not let these credentials push to the repository. */
export class PushDeniedError extends RegistryError {
  constructor(where: string, detail: string, options: OcifsErrorOptions = {}) {
    super(
      'ERR_OCIFS_PUSH_DENIED',
      `${where}: no push rights${detail ? ` (${detail})` : ''}; log in with an account that may push there (--username with --password-stdin, or docker/podman login)`,
      {
        ...options,
        data: { where, ...options.data },
      },
    );
  }
}

/**
 * The registry refused what was pushed: a manifest it does not accept (media type, schema, a
 * `subject` it will not store), a blob whose digest does not match, an unknown referenced blob.
 * `data.registryCode` holds the registry's error code (`MANIFEST_INVALID`, `DIGEST_INVALID` …).
 */
export class PushRefusedError extends RegistryError {
  constructor(message: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_PUSH_REFUSED', message, options);
  }
}

/**
 * An upload session broke and cannot be resumed from what is still at hand (a stream whose
 * earlier bytes are gone, or a session the registry forgot). Pushing again starts over.
 */
export class UploadLostError extends RegistryError {
  constructor(message: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_UPLOAD_LOST', message, options);
  }
}

/** Turns an auth failure of a write into {@link PushDeniedError}; other errors pass through. */
export function asPushError(err: unknown, where: string): unknown {
  if (err instanceof UnauthorizedError || err instanceof DeniedError) {
    return new PushDeniedError(where, err.message.replace(/^[^:]*: /, ''), { cause: err, data: { ...err.data } });
  }
  return err;
}
