import { OcifsError, type OcifsErrorOptions } from '../errors.js';

/** An image reference could not be parsed; the message says why. */
export class InvalidReferenceError extends OcifsError {
  constructor(input: string, reason: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_INVALID_REFERENCE', `invalid image reference ${JSON.stringify(input)}: ${reason}`, {
      ...options,
      data: { input, reason, ...options.data },
    });
  }
}

/** A digest string is malformed or uses an algorithm ocifs cannot verify. */
export class InvalidDigestError extends OcifsError {
  constructor(input: string, reason: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_INVALID_DIGEST', `invalid digest ${JSON.stringify(input)}: ${reason}`, {
      ...options,
      data: { input, reason, ...options.data },
    });
  }
}
