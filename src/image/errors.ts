/**
 * Errors of the image facade: a selector that names no layer or blob of the image, and a
 * derived blob that is gone from the cache.
 *
 * @packageDocumentation
 */
import { OcifsError } from '../errors.js';

/** No layer or config of the image has the digest asked for. */
export class BlobNotInImageError extends OcifsError {
  constructor(image: string, digest: string) {
    super('ERR_OCIFS_BLOB_NOT_IN_IMAGE', `${image}: no layer or config with digest ${digest}`, { data: { digest } });
  }
}

/** A layer index (or view name) outside the image's layers; the message says which are valid. */
export class NoSuchLayerError extends OcifsError {
  constructor(message: string, data: { layer: number | string; layers: number }) {
    super('ERR_OCIFS_NO_SUCH_LAYER', message, { data });
  }
}

/** The blob selected is the image config, where a layer is needed. */
export class NotALayerError extends OcifsError {
  constructor(image: string, digest: string) {
    super('ERR_OCIFS_NOT_A_LAYER', `${image}: ${digest} is the config, not a layer`, { data: { digest } });
  }
}

/** A derived blob (a decompressed layer) recorded in the cache is no longer complete there. */
export class DerivedMissingError extends OcifsError {
  constructor(digest: string) {
    const message = `${digest}: the decompressed layer is no longer complete in the cache`;
    super('ERR_OCIFS_DERIVED_MISSING', message, { data: { digest } });
  }
}

/** An operation that needs a registry image (its repository, its index) on a local image file. */
export class NotARegistryImageError extends OcifsError {
  constructor(image: string) {
    super('ERR_OCIFS_NOT_A_REGISTRY_IMAGE', `${image} is a local file, not a registry image`, { data: { image } });
  }
}
