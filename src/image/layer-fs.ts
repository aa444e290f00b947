/**
 * Opens the filesystem of one layer blob, whatever its format: EROFS directly; tar, tar+gzip
 * and tar+zstd through the tar index (kept in the cache next to the blob).
 */
import { OcifsError } from '../errors.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import type { BlobCache, MemoryBlobCache } from '../cache/index.js';
import { openErofs, ErofsFileSystem, formatErofsInfo } from '../erofs/index.js';
import type { FileSystem } from '../vfs/types.js';
import type { ImageBlob } from './image-blob.js';
import { detectLayerFormat, type LayerFormat } from './layer-format.js';
import type { BlobInfo } from './image-blob.js';

/** What `ocifs info` shows of a layer. */
export interface LayerSummary {
  layer: BlobInfo;
  format: LayerFormat;
  /** The format's facts, JSON-friendly. */
  details: Record<string, unknown>;
  /** The same as text lines. */
  text: string;
}

/** The format summary of an opened layer filesystem. */
export function summarizeLayerFileSystem(fs: FileSystem): Omit<LayerSummary, 'layer'> {
  if (fs instanceof ErofsFileSystem) {
    const info = fs.info();
    return { format: 'erofs', details: { ...info }, text: formatErofsInfo(info) };
  }
  throw new OcifsError('ERR_OCIFS_UNSUPPORTED_LAYER', 'no summary for this layer format');
}

/** Options of {@link openLayerFileSystem}. */
export interface LayerFsOptions extends ReadOptions {
  /** Names the layer in errors. */
  name: string;
  /** Where indexes of the layer are kept (sidecars keyed by the blob digest). */
  cache?: BlobCache | MemoryBlobCache;
}

/** Opens the filesystem inside a layer blob. */
export async function openLayerFileSystem(blob: ImageBlob, options: LayerFsOptions): Promise<FileSystem> {
  const format = await detectLayerFormat(blob as ByteSource, options.name, blob.info.mediaType, options);
  switch (format) {
    case 'erofs':
      return openErofs(blob, options.signal ? { signal: options.signal } : {});
    default:
      throw new OcifsError('ERR_OCIFS_UNSUPPORTED_LAYER', `${options.name}: ${format} layers are not readable yet`, { data: { format } });
  }
}
