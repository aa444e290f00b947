import { OcifsError, type OcifsErrorCode, type OcifsErrorOptions } from '../errors.js';

/**
 * Base of the registry client's errors. `retryable` says whether trying again (after a delay)
 * may help: overloaded servers, dropped connections, short bodies, timeouts.
 */
export class RegistryError extends OcifsError {
  /** True when a retry may succeed. */
  readonly retryable: boolean;
  /** Delay (ms) the server asked for with Retry-After, if any. */
  readonly retryAfter?: number;
  protected constructor(
    code: OcifsErrorCode,
    message: string,
    options: OcifsErrorOptions & { retryable?: boolean; retryAfter?: number } = {},
  ) {
    super(code, message, options);
    this.retryable = options.retryable ?? false;
    if (options.retryAfter !== undefined) this.retryAfter = options.retryAfter;
  }
}

/** The registry does not have the manifest (or the repository). */
export class ManifestUnknownError extends RegistryError {
  constructor(where: string, reference: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_MANIFEST_UNKNOWN', `${where}: manifest ${reference} not found`, {
      ...options,
      data: { where, reference, ...options.data },
    });
  }
}

/** The registry does not have the blob. */
export class BlobUnknownError extends RegistryError {
  constructor(where: string, digest: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_BLOB_UNKNOWN', `${where}: blob ${digest} not found`, {
      ...options,
      data: { where, digest, ...options.data },
    });
  }
}

/** Authentication failed or is needed and no (valid) credentials were found. */
export class UnauthorizedError extends RegistryError {
  constructor(message: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_UNAUTHORIZED', message, options);
  }
}

/** The registry knows who we are and refuses access (403 / DENIED). */
export class DeniedError extends RegistryError {
  constructor(message: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_DENIED', message, options);
  }
}

/** An unexpected HTTP status; `data.status` holds it. 408, 429 and 5xx are retryable. */
export class HttpStatusError extends RegistryError {
  constructor(message: string, status: number, options: OcifsErrorOptions & { retryAfter?: number } = {}) {
    super('ERR_OCIFS_HTTP', message, {
      ...options,
      retryable: isRetryableStatus(status),
      data: { status, ...options.data },
    });
  }
}

/** A Range response that does not match the request (bad Content-Range, 416, wrong length). */
export class RangeResponseError extends RegistryError {
  constructor(message: string, options: OcifsErrorOptions & { retryable?: boolean } = {}) {
    super('ERR_OCIFS_RANGE', message, options);
  }
}

/** A response body ended before its announced length. Retryable. */
export class ShortBodyError extends RegistryError {
  constructor(message: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_SHORT_BODY', message, { ...options, retryable: true });
  }
}

/** Connecting, waiting for headers, or waiting for more body bytes took too long. Retryable. */
export class TimeoutError extends RegistryError {
  constructor(message: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_TIMEOUT', message, { ...options, retryable: true });
  }
}

/**
 * The connection failed or was reset. Retryable unless the host is unknown or refuses
 * connections (then the next mirror, or the error, should come at once).
 */
export class NetworkError extends RegistryError {
  constructor(message: string, options: OcifsErrorOptions & { retryable?: boolean } = {}) {
    super('ERR_OCIFS_NETWORK', message, { retryable: true, ...options });
  }
}

/**
 * A redirect ocifs will not follow: to a scheme other than http(s), from https down to plain
 * http, more than the limit in a row, or (with `denyPrivateRedirects`) to an address that is
 * not globally routable. Never retried: the same answer would come again.
 */
export class RedirectRefusedError extends RegistryError {
  constructor(message: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_REDIRECT_REFUSED', message, { ...options, retryable: false });
  }
}

/** A credential source (auth file, credential helper) could not be read. */
export class CredentialError extends OcifsError {
  constructor(message: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_CREDENTIALS', message, options);
  }
}

/** 408, 429 and 5xx other than 501/505 may succeed when tried again. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

/** True when `err` is a {@link RegistryError} worth retrying. */
export function isRetryable(err: unknown): boolean {
  return err instanceof RegistryError && err.retryable;
}
