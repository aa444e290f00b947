/**
 * The destination of `convert`: `oci:DIR[:TAG]` (an OCI image layout, as skopeo names it; tag
 * `latest` by default) or an image reference in a registry.
 *
 * @packageDocumentation
 */
import { DEFAULT_TAG, parseReference, type ImageReference } from '../ref/index.js';

/** Where a converted image goes. */
export type Destination = { kind: 'layout'; dir: string; tag: string } | { kind: 'registry'; ref: ImageReference };

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Parses a destination; a malformed reference throws `ERR_OCIFS_INVALID_REFERENCE`. */
export function parseDestination(s: string): Destination {
  if (s.startsWith('oci:')) {
    const rest = s.slice('oci:'.length);
    const i = rest.lastIndexOf(':');
    // A final `:TAG` (no slash after it) is the tag; any other colon is part of the path.
    if (i > 0 && TAG.test(rest.slice(i + 1))) return { kind: 'layout', dir: rest.slice(0, i), tag: rest.slice(i + 1) };
    return { kind: 'layout', dir: rest, tag: DEFAULT_TAG };
  }
  return { kind: 'registry', ref: parseReference(s) };
}
