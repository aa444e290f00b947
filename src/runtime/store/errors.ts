/**
 * Errors of the podman / CRI-O additional layer store.
 *
 * @packageDocumentation
 */
import { NotFoundError, OcifsError, type OcifsErrorOptions } from '../../errors.js';

/** containers/storage asked for a layer digest that the image's manifest does not list. */
export class LayerNotInImageError extends NotFoundError {
  constructor(ref: string, digest: string, options: OcifsErrorOptions = {}) {
    super(ref, {
      ...options,
      reason: `no layer with digest or TOC digest ${digest}`,
      data: { ref, digest, ...options.data },
    });
  }
}

/** The store's root cannot be used (served by another store, or something else is mounted there). */
export class StoreRootError extends OcifsError {
  constructor(root: string, reason: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_STORE_ROOT', `${root}: ${reason}`, { ...options, data: { root, ...options.data } });
  }
}
