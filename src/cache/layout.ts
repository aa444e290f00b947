/**
 * Paths inside a cache directory.
 *
 * ```
 * DIR/
 *   CACHEDIR.TAG                       marks the directory as a cache for backup tools
 *   blobs/sha256/<hex>/                the verified instance of a blob, shared by every origin
 *     data                             the blob's bytes at their offsets
 *     map                              header + one presence byte per chunk (see map-format.ts)
 *     claims/<block>                   cross-process "I am downloading this block" files
 *     sidecars/<name>                  data derived from this instance's bytes (tar index …)
 *   partial/sha256/<hex>/<origin-id>/  an unverified instance, filled through one origin only
 *     data  map  claims/  sidecars/    as above (sparse until filled)
 *     origin                           the origin's name (registry or mirror chain)
 *   tmp/                               instances and sidecars being created (renamed into place)
 *   trash/                             evicted instances being deleted
 * ```
 *
 * An instance is created in `partial/` and, once complete and verified, renamed into `blobs/`
 * (one rename: the instance with its sidecars). Older versions kept every instance in `blobs/`
 * and sidecars in a top-level `sidecars/` directory keyed by digest alone; see {@link LEGACY_DIRS}.
 *
 * @packageDocumentation
 */
import { join } from 'node:path';
import type { Digest } from '../ref/digest.js';

/** Top-level directories the cache creates (all 0700). */
export const LAYOUT_DIRS = [
  'blobs',
  'blobs/sha256',
  'blobs/sha512',
  'partial',
  'partial/sha256',
  'partial/sha512',
  'tmp',
  'trash',
] as const;

/**
 * Directories of older layouts that are moved to trash/ when a cache opens: their sidecars
 * (keyed by digest alone, whichever registry's bytes they were built from) cannot be trusted.
 */
export const LEGACY_DIRS = ['sidecars'] as const;

/** Names inside an instance directory. */
export const DATA_FILE = 'data';
export const MAP_FILE = 'map';
export const CLAIMS_DIR = 'claims';
export const SIDECARS_DIR = 'sidecars';
export const ORIGIN_FILE = 'origin';

/** The content of CACHEDIR.TAG (https://bford.info/cachedir/). */
export const CACHEDIR_TAG =
  'Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by ocifs.\n# For information about cache directory tags see https://bford.info/cachedir/\n';

/** Path helper bound to one cache root. */
export class CacheLayout {
  constructor(readonly root: string) {}
  /** The verified instance's directory. */
  blobDir(d: Digest): string {
    return join(this.root, 'blobs', d.algorithm, d.hex);
  }
  dataPath(d: Digest): string {
    return join(this.blobDir(d), DATA_FILE);
  }
  /** The directory holding every origin's unverified instance of a blob. */
  partialRoot(d: Digest): string {
    return join(this.root, 'partial', d.algorithm, d.hex);
  }
  /** The unverified instance fetched through the origin with id `originId`. */
  partialDir(d: Digest, originId: string): string {
    return join(this.partialRoot(d), originId);
  }
  algDir(kind: 'blobs' | 'partial', algorithm: string): string {
    return join(this.root, kind, algorithm);
  }
  get tmp(): string {
    return join(this.root, 'tmp');
  }
  get trash(): string {
    return join(this.root, 'trash');
  }
}
