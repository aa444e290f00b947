/**
 * The names containers/storage looks up in an additional layer store (`:ref` stores):
 * `ROOT/<base64 of the image reference>/<layer digest>/{diff,info,blob,use}`.
 *
 * The reference is encoded with Go's `base64.StdEncoding` (the `+/` alphabet, `=` padding;
 * `drivers/overlay/overlay.go`, getAdditionalLayerPath) and joined into the path as is. A `/`
 * of the encoding would split it into nested directories, but none occurs: a 6-bit group of
 * all ones (`/`) or `111110` (`+`) needs a byte of `|}~?>` or above 0x7f, and a reference is
 * made of `[a-z0-9._:@/-]` and uppercase tag letters, so each reference is one directory.
 *
 * @packageDocumentation
 */
import { isDigest } from '../../ref/index.js';

/** The entries of a layer directory. */
export const DIFF_NAME = 'diff';
export const INFO_NAME = 'info';
export const BLOB_NAME = 'blob';
/** containers/storage creates this file to say "in use"; the store answers ENOENT and counts. */
export const USE_NAME = 'use';

/** Longest encoded reference accepted (a 1024-byte reference encodes to 1368 characters). */
export const MAX_ENCODED_REF_LENGTH = 1368;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const ENCODED = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The directory name containers/storage uses for `ref` (`base64.StdEncoding`). */
export function encodeRef(ref: string): string {
  return Buffer.from(ref, 'utf8').toString('base64');
}

/**
 * The reference a directory name encodes, or undefined when it is not exactly what {@link
 * encodeRef} makes of a string.
 */
export function decodeRef(encoded: string): string | undefined {
  if (encoded.length === 0 || encoded.length > MAX_ENCODED_REF_LENGTH || !ENCODED.test(encoded)) return undefined;
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.toString('base64') !== encoded) return undefined;
  let ref: string;
  try {
    ref = utf8.decode(bytes);
  } catch {
    return undefined;
  }
  return ref.includes('\0') ? undefined : ref;
}

/** True when `name` is a layer's directory name: a digest (`sha256:…`, `sha512:…`). */
export function isLayerName(name: string): boolean {
  return isDigest(name);
}
