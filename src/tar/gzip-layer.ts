/**
 * Opens a tar+gzip layer: the stored checkpoint + tar index when a valid one is in the
 * {@link IndexStore}, else one pass ({@link buildGzipIndex}) whose result is stored.
 *
 * @packageDocumentation
 */
import { debuglog } from '../io/debug-log.js';
import { isOcifsError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { GZIP_INDEX_NAME, decodeGzipIndex, encodeGzipIndex, type GzipIndex } from './gzip-index.js';
import { buildGzipIndex, type GzipIndexOptions } from './gzip-indexer.js';
import { GzipIndexedSource, type GzipIndexedSourceOptions } from './gzip-indexed-source.js';
import type { IndexStore } from './index-store.js';
import { TarFileSystem } from './tar-fs.js';

const debug = debuglog('ocifs:gzip');

/** Options of {@link openGzipLayer}. */
export interface GzipLayerOptions extends GzipIndexOptions, GzipIndexedSourceOptions {
  /** Where the index is kept between runs (keyed by the blob's digest by its owner). */
  store?: IndexStore;
}

/** What {@link openGzipLayer} returns. */
export interface GzipLayer {
  fs: TarFileSystem;
  /** The uncompressed tar stream. */
  source: GzipIndexedSource;
  index: GzipIndex;
  /** True when the index came from the store (no pass was needed). */
  fromStore: boolean;
}

/** The gzip index of `blob`, from `store` or built by one pass (then stored). */
export async function loadOrBuildGzipIndex(
  blob: ByteSource,
  options: GzipLayerOptions = {},
): Promise<{ index: GzipIndex; fromStore: boolean }> {
  const stored = await options.store?.get(GZIP_INDEX_NAME);
  if (stored) {
    try {
      const index = await decodeGzipIndex(stored);
      if (index.blobSize === blob.size) return { index, fromStore: true };
      debug('stored gzip index is for %d bytes, blob has %d: rebuilding', index.blobSize, blob.size);
    } catch (err) {
      if (!isOcifsError(err, 'ERR_OCIFS_CORRUPT_INDEX')) throw err;
      debug('stored gzip index rejected (%s): rebuilding', (err as Error).message);
    }
  }
  const index = await buildGzipIndex(blob, options);
  await options.store?.put(GZIP_INDEX_NAME, await encodeGzipIndex(index));
  return { index, fromStore: false };
}

/** Opens a tar+gzip layer as a filesystem. */
export async function openGzipLayer(blob: ByteSource, options: GzipLayerOptions = {}): Promise<GzipLayer> {
  const { index, fromStore } = await loadOrBuildGzipIndex(blob, options);
  const source = new GzipIndexedSource(blob, index, options);
  return { fs: new TarFileSystem(index.tar, source), source, index, fromStore };
}
