/**
 * The entries of one layer of an image, read the cheapest way its format allows: a tar layer
 * (plain, gzip, zstd — eStargz and zstd:chunked included) is streamed once through the cache
 * and parsed as it arrives, with no index; an EROFS layer is walked through its filesystem.
 *
 * @packageDocumentation
 */
import type { Image } from '../image/index.js';
import { detectLayerFormat, type LayerFormat } from '../image/layer-format.js';
import type { BlobInfo } from '../image/image-blob.js';
import type { BuildEntry } from '../build/entry.js';
import { fsEntries, fsEntryAt } from '../build/fs-entries.js';
import { UnconvertibleEntryError } from '../build/errors.js';
import { tarLayerEntries, type TarCompression } from '../build/layer-stream.js';

/** One source layer, ready to be read. */
export interface LayerSource {
  info: BlobInfo;
  format: LayerFormat;
  /**
   * The layer's entries (one pass). `ociWhiteouts`: an EROFS layer's overlayfs whiteouts become
   * OCI ones (for tar outputs); a tar layer's are OCI already.
   */
  entries(options?: { ociWhiteouts?: boolean }): AsyncIterable<BuildEntry>;
  /** Compressed bytes of the blob read so far. */
  readonly bytesRead: number;
}

const COMPRESSION: Partial<Record<LayerFormat, TarCompression>> = {
  tar: 'none',
  'tar+gzip': 'gzip',
  'tar+zstd': 'zstd',
};

/**
 * Gives a tar layer's hardlinks a way to their file's content (read from the layer's indexed
 * filesystem, only when a writer asks: flattening, when a higher layer hid the link's target).
 */
async function* withLinkResolution(
  entries: AsyncIterable<BuildEntry>,
  image: Image,
  index: number,
  signal?: AbortSignal,
): AsyncGenerator<BuildEntry> {
  for await (const e of entries) {
    if (e.type === 'hardlink') {
      e.resolve = async () => {
        const fs = await image.openFileSystem({ layer: index });
        const file = await fsEntryAt(fs, e.path, signal ? { signal } : {});
        if (!file)
          throw new UnconvertibleEntryError(
            e.path,
            `hardlink to ${JSON.stringify(e.linkName)}, which layer ${index} does not hold`,
          );
        return file;
      };
    }
    yield e;
  }
}

/** Opens layer `index` of `image` for one pass over its entries. */
export async function openLayerSource(image: Image, index: number, signal?: AbortSignal): Promise<LayerSource> {
  const blob = await image.openBlob({ layer: index });
  const format = await detectLayerFormat(
    blob,
    `${image.name} layer ${index}`,
    blob.info.mediaType,
    signal ? { signal } : {},
  );
  let bytesRead = 0;
  const compression = COMPRESSION[format];
  return {
    info: blob.info,
    format,
    get bytesRead() {
      return bytesRead;
    },
    entries(options = {}) {
      if (compression === undefined) {
        // EROFS: walk it; what was read is what the blob holds once the walk is done.
        return (async function* () {
          const fs = await image.openFileSystem({ layer: index });
          yield* fsEntries(fs, { ...options, ...(signal ? { signal } : {}) });
          bytesRead = blob.size;
        })();
      }
      const counted = (async function* () {
        for await (const c of blob.readStream(signal ? { signal } : {})) {
          bytesRead += (c as Uint8Array).length;
          yield c as Uint8Array;
        }
      })();
      return withLinkResolution(tarLayerEntries(counted, compression, signal ? { signal } : {}), image, index, signal);
    },
  };
}
