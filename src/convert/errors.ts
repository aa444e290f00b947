/**
 * Errors of `convert`.
 *
 * @packageDocumentation
 */
import { OcifsError } from '../errors.js';

/**
 * A conversion that cannot be done: a format/option mismatch, an image that is not one, a
 * config that is not JSON. `data.reason` says why.
 */
export class ConvertError extends OcifsError {
  constructor(reason: string, options: { cause?: unknown } = {}) {
    super('ERR_OCIFS_CONVERT', reason, { ...options, data: { reason } });
  }
}
