/**
 * Paths inside a cache directory.
 *
 * ```
 * DIR/
 *   CACHEDIR.TAG                 marks the directory as a cache for backup tools
 *   blobs/sha256/<hex>/          one blob instance (directory mtime = last access, for LRU)
 *     data                       the blob's bytes at their offsets, sparse until filled
 *     map                        header + one presence byte per chunk (see map-format.ts)
 *     claims/<block>             cross-process "I am downloading this block" files
 *   sidecars/sha256/<hex>/<name> indexes derived from the blob (evicted with it)
 *   tmp/                         instances and sidecars being created (renamed into place)
 *   trash/                       evicted instances being deleted
 * ```
 *
 * @packageDocumentation
 */
import { join } from 'node:path';
import type { ParsedDigest } from './digest.js';

/** Top-level directories the cache creates (all 0700). */
export const LAYOUT_DIRS = ['blobs', 'blobs/sha256', 'blobs/sha512', 'sidecars', 'sidecars/sha256', 'sidecars/sha512', 'tmp', 'trash'] as const;

/** Names inside an instance directory. */
export const DATA_FILE = 'data';
export const MAP_FILE = 'map';
export const CLAIMS_DIR = 'claims';

/** The content of CACHEDIR.TAG (https://bford.info/cachedir/). */
export const CACHEDIR_TAG =
  'Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by ocifs.\n# For information about cache directory tags see https://bford.info/cachedir/\n';

/** Path helper bound to one cache root. */
export class CacheLayout {
  constructor(readonly root: string) {}
  blobDir(d: ParsedDigest): string {
    return join(this.root, 'blobs', d.algorithm, d.hex);
  }
  dataPath(d: ParsedDigest): string {
    return join(this.blobDir(d), DATA_FILE);
  }
  mapPath(d: ParsedDigest): string {
    return join(this.blobDir(d), MAP_FILE);
  }
  claimsDir(d: ParsedDigest): string {
    return join(this.blobDir(d), CLAIMS_DIR);
  }
  sidecarDir(d: ParsedDigest): string {
    return join(this.root, 'sidecars', d.algorithm, d.hex);
  }
  algDir(kind: 'blobs' | 'sidecars', algorithm: string): string {
    return join(this.root, kind, algorithm);
  }
  get tmp(): string {
    return join(this.root, 'tmp');
  }
  get trash(): string {
    return join(this.root, 'trash');
  }
}
