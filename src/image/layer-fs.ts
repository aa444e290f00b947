/**
 * Opens the filesystem of one layer blob, whatever its format: EROFS directly; tar, tar+gzip
 * (with a SOCI zTOC when the registry has one), eStargz, tar+zstd and zstd:chunked through the
 * tar reader, whose indexes are kept in the cache next to the blob.
 */
import type { ReadOptions } from '../io/byte-source.js';
import type { BlobCache, MemoryBlobCache } from '../cache/index.js';
import { openErofs, ErofsFileSystem, formatErofsInfo } from '../erofs/index.js';
import {
  openTarLayer,
  TarFileSystem,
  GZIP_INDEX_NAME,
  TAR_INDEX_NAME,
  UnsupportedLayerError,
  type IndexStore,
  type LayerFormat as TarLayerFormat,
} from '../tar/index.js';
import type { FileSystem } from '../vfs/types.js';
import type { BlobInfo, ImageBlob } from './image-blob.js';
import { detectLayerFormat, type LayerFormat } from './layer-format.js';
import { derivedStoreFor, sidecarIndexStore } from './cache-stores.js';

/** Options of {@link openLayerFileSystem}. */
export interface LayerFsOptions extends ReadOptions {
  /** Names the layer in errors. */
  name: string;
  /** Where indexes of the layer are kept (sidecars keyed by the blob digest). */
  cache?: BlobCache | MemoryBlobCache;
  /** Looks up a SOCI zTOC for a gzip or plain tar layer (called only when no index of the layer is cached). */
  ztoc?: () => Promise<Uint8Array | undefined>;
}

/** An opened layer filesystem and how it was read. */
export interface OpenedLayer {
  fs: FileSystem;
  format: LayerFormat;
  /** For tar layers: how the tar stream is reached (plain, gzip index, eStargz TOC, SOCI …). */
  access?: TarLayerFormat;
}

/** What `ocifs info` shows of a layer. */
export interface LayerSummary {
  layer: BlobInfo;
  format: LayerFormat;
  /** The format's facts, JSON-friendly. */
  details: Record<string, unknown>;
  /** The same as text lines. */
  text: string;
}

const accessOf = new WeakMap<FileSystem, { access: TarLayerFormat; format: LayerFormat }>();

/** Opens the filesystem inside a layer blob. */
export async function openLayerFileSystem(blob: ImageBlob, options: LayerFsOptions): Promise<FileSystem> {
  // Marked before the first read: an index is kept only if every byte read for it is in one instance.
  const cached = options.cache && blob.info.digest ? blob.cachedSource : undefined;
  const store = cached ? sidecarIndexStore(cached, options.signal ? { signal: options.signal } : {}) : undefined;
  const format = await detectLayerFormat(blob, options.name, blob.info.mediaType, options);
  if (format === 'erofs') return openErofs(blob, options.signal ? { signal: options.signal } : {});
  const indexName = format === 'tar+gzip' ? GZIP_INDEX_NAME : format === 'tar' ? TAR_INDEX_NAME : undefined;
  // A zTOC stands in for the pass (gzip) or the header scan (tar) until this machine has its own index.
  const ztoc =
    indexName && options.ztoc && !(store && (await store.get(indexName)) !== undefined)
      ? await keptZtoc(store, options.ztoc)
      : undefined;
  const layer = await openTarLayer(blob, {
    mediaType: blob.info.mediaType,
    ...(blob.info.annotations ? { annotations: blob.info.annotations } : {}),
    ...(store ? { store } : {}),
    ...(options.cache ? { derived: derivedStoreFor(options.cache) } : {}),
    ...(ztoc ? { ztoc } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  accessOf.set(layer.fs, { access: layer.format, format });
  return layer.fs;
}

/** Sidecar name of a layer's SOCI zTOC, kept so that opening the layer again needs no registry. */
export const ZTOC_SIDECAR = 'soci-ztoc';

/** The layer's zTOC from the store, else from `fetch` (then kept in the store). */
async function keptZtoc(
  store: IndexStore | undefined,
  fetch: () => Promise<Uint8Array | undefined>,
): Promise<Uint8Array | undefined> {
  const kept = await store?.get(ZTOC_SIDECAR);
  if (kept) return kept;
  const ztoc = await fetch();
  if (ztoc && store) await store.put(ZTOC_SIDECAR, ztoc);
  return ztoc;
}

/** The format summary of an opened layer filesystem. */
export function summarizeLayerFileSystem(fs: FileSystem): Omit<LayerSummary, 'layer'> {
  if (fs instanceof ErofsFileSystem) {
    const info = fs.info();
    return { format: 'erofs', details: { ...info }, text: formatErofsInfo(info) };
  }
  if (fs instanceof TarFileSystem) {
    const { access, format } = accessOf.get(fs) ?? { access: 'tar' as const, format: 'tar' as const };
    const stats = fs.statfs();
    const details = { access, entries: stats.files, blocks: stats.blocks, blockSize: stats.blockSize };
    const text =
      [
        `Layer format:        tar (${access === 'tar' ? 'uncompressed' : access})`,
        `Entries:             ${stats.files}`,
        `Content blocks:      ${stats.blocks} of ${stats.blockSize} bytes`,
      ].join('\n') + '\n';
    return { format, details, text };
  }
  throw new UnsupportedLayerError('no summary for this layer format');
}
