import { OcifsError, type OcifsErrorOptions } from '../errors.js';

/** The config file (or a flag that feeds it) is unreadable or invalid; the message names the field. */
export class ConfigError extends OcifsError {
  constructor(message: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_CONFIG', message, options);
  }
}
