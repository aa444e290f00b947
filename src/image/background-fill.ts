import { debuglog } from 'node:util';
import type { BlobSelector, Image } from './image.js';

const debug = debuglog('ocifs:image');

/** A background download of whole layers into the cache (see {@link startBackgroundFill}). */
export interface BackgroundFill {
  /** Ends the download (what is stored stays stored) and resolves once it has stopped. */
  stop(): Promise<void>;
}

/**
 * Starts streaming an image's layers (all of them, or the one `selector` names) into the blob
 * cache at low priority, one long request per blob, as `skopeo copy` downloads them.
 *
 * For work that will read (nearly) every byte of the layers — extracting or copying a whole
 * tree: one stream beats thousands of reads, and once a blob is complete and verified, readers
 * copy straight from the cache's data file. Reads of bytes not there yet still fetch them at
 * once, ahead of the fill. A failed fill only costs speed (it is logged under
 * `NODE_DEBUG=ocifs:image`); readers report real errors themselves. Does nothing for a local
 * image file or a blob already complete.
 */
export function startBackgroundFill(image: Image, selector?: BlobSelector, options: { signal?: AbortSignal } = {}): BackgroundFill {
  const ac = new AbortController();
  const outer = options.signal;
  const onAbort = () => ac.abort(outer?.reason);
  outer?.addEventListener('abort', onAbort, { once: true });
  const selectors: BlobSelector[] = selector ? [selector] : image.layers.filter((l) => l.index >= 0).map((l) => ({ layer: l.index }));
  const done =
    image.kind !== 'registry'
      ? Promise.resolve()
      : Promise.all(
          selectors.map(async (sel) => {
            const blob = await image.openBlob(sel);
            if (!blob.isComplete) await blob.prefetch({ signal: ac.signal, priority: 'low' });
          }),
        ).then(
          () => {},
          (err: unknown) => debug('background fill stopped: %s', err instanceof Error ? err.message : String(err)),
        );
  return {
    async stop() {
      ac.abort(new Error('background fill stopped'));
      outer?.removeEventListener('abort', onAbort);
      await done;
    },
  };
}
