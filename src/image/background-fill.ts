import { debuglog } from '../io/debug-log.js';
import { isOcifsError } from '../errors.js';
import { CacheIncompleteError } from '../cache/index.js';
import type { BlobSelector, Image } from './image.js';
import type { ImageBlob } from './image-blob.js';

const debug = debuglog('ocifs:image');

/** A background download of whole layers into the cache (see {@link startBackgroundFill}). */
export interface BackgroundFill {
  /** Ends the download (what is stored stays stored) and resolves once it has stopped. */
  stop(): Promise<void>;
  /**
   * Waits for the download to end, then makes sure every blob it covers is complete and
   * verified against its digest, fetching whatever the fill did not get (it failed or was
   * stopped). This is what proves the bytes read meanwhile: the cache can only check a blob's
   * digest once it has all of it, so bytes served before then are unverified. Rejects with
   * `ERR_OCIFS_DIGEST_MISMATCH` when a blob does not match its digest (bytes read from it may
   * be wrong), or with the error that kept a blob from completing (`ERR_OCIFS_CACHE_INCOMPLETE`
   * or `ERR_OCIFS_CACHE_FULL` when the cache cannot hold it, a registry error).
   */
  finish(options?: { signal?: AbortSignal }): Promise<void>;
}

/**
 * Starts streaming an image's layers (all of them, or the one `selector` names) into the blob
 * cache at low priority, one long request per blob, as `skopeo copy` downloads them.
 *
 * For work that will read (nearly) every byte of the layers — extracting or copying a whole
 * tree: one stream beats thousands of reads, and once a blob is complete and verified, readers
 * copy straight from the cache's data file. Reads of bytes not there yet still fetch them at
 * once, ahead of the fill. Call {@link BackgroundFill.finish} when the work is done: it reports a
 * digest mismatch that the fill found (which no reader may have seen) and completes what the
 * fill left, so the work ends verified. {@link BackgroundFill.stop} instead abandons the fill
 * (on failure or cancel). Does nothing for a local image file or a blob already complete.
 */
export function startBackgroundFill(
  image: Image,
  selector?: BlobSelector,
  options: { signal?: AbortSignal } = {},
): BackgroundFill {
  const ac = new AbortController();
  const outer = options.signal;
  const onAbort = () => ac.abort(outer?.reason);
  outer?.addEventListener('abort', onAbort, { once: true });
  const selectors: BlobSelector[] = selector
    ? [selector]
    : image.layers.filter((l) => l.index >= 0).map((l) => ({ layer: l.index }));
  // Each blob's fill, settled: the blob (once open) and why its fill ended early, if it did.
  const fills: Promise<{ sel: BlobSelector; blob?: ImageBlob; error?: unknown }>[] =
    image.kind !== 'registry'
      ? []
      : selectors.map(async (sel) => {
          let blob: ImageBlob | undefined;
          try {
            blob = await image.openBlob(sel);
            if (!blob.isComplete) await blob.prefetch({ signal: ac.signal, priority: 'low' });
            return { sel, blob };
          } catch (error) {
            debug('background fill stopped: %s', error instanceof Error ? error.message : String(error));
            return { sel, blob, error };
          }
        });
  const detach = () => outer?.removeEventListener('abort', onAbort);
  return {
    async stop() {
      ac.abort(new Error('background fill stopped'));
      detach();
      await Promise.all(fills);
    },
    async finish(finishOptions = {}) {
      try {
        for (const f of await Promise.all(fills)) {
          // The fill's own mismatch first: the blob was discarded, and fetching it again (right,
          // this time) would hide that what was read from it before may be wrong.
          if (isOcifsError(f.error, 'ERR_OCIFS_DIGEST_MISMATCH')) throw f.error;
          const blob = f.blob ?? (await image.openBlob(f.sel));
          if (!blob.isComplete) await blob.prefetch({ signal: finishOptions.signal ?? outer });
          // A cache that could not keep the blob (a full disk: chunks served from memory) checked nothing.
          if (!blob.isComplete) {
            throw new CacheIncompleteError(blob.info.digest, 'not verified: the cache could not keep all of it');
          }
        }
      } finally {
        detach();
      }
    },
  };
}
