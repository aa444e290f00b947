/**
 * One entry point for every standard layer: picks the reader from the media type (or, when
 * the media type says nothing, the first bytes) and the layer's own markers — a SOCI zTOC
 * when one is given, an eStargz footer, a zstd:chunked manifest — and falls back to the
 * one-pass indexes otherwise.
 *
 * @packageDocumentation
 */
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { UnsupportedLayerError } from './errors.js';
import { detectEstargz, openEstargzLayer } from './estargz.js';
import { openGzipLayer, type GzipLayerOptions } from './gzip-layer.js';
import type { IndexStore } from './index-store.js';
import { openSociLayer } from './soci.js';
import { TarFileSystem } from './tar-fs.js';
import { loadOrScanTar } from './tar-scan.js';
import { detectZstdChunked, openZstdChunkedLayer } from './zstd-chunked.js';
import { openZstdLayer, type ZstdLayerOptions } from './zstd-layer.js';
import type { DerivedBlobStore } from './derived-blob.js';

/** How a layer's tar stream is compressed. */
export type LayerCompression = 'none' | 'gzip' | 'zstd';

/** How a layer was opened. */
export type LayerFormat = 'tar' | 'gzip' | 'estargz' | 'soci' | 'zstd' | 'zstd:chunked';

/** The compression a layer media type names, or undefined for a media type that is not a tar layer. */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  const oci = /^application\/vnd\.oci\.image\.layer\.(?:nondistributable\.)?v1\.tar(\+gzip|\+zstd)?$/.exec(mediaType);
  if (oci) return oci[1] === '+gzip' ? 'gzip' : oci[1] === '+zstd' ? 'zstd' : 'none';
  const docker = /^application\/vnd\.docker\.image\.rootfs\.(?:foreign\.)?diff\.tar(\.gzip|\.zstd)?$/.exec(mediaType);
  if (docker) return docker[1] === '.gzip' ? 'gzip' : docker[1] === '.zstd' ? 'zstd' : 'none';
  return undefined;
}

/** The compression the first bytes of a blob show (gzip and zstd magics), else `none`. */
export function sniffCompression(head: Uint8Array): LayerCompression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/** Options of {@link openTarLayer}. */
export interface OpenTarLayerOptions extends ReadOptions, GzipLayerOptions, ZstdLayerOptions {
  /** The layer descriptor's media type; sniffed from the blob when absent or not a tar type. */
  mediaType?: string;
  /** The layer descriptor's annotations (eStargz TOC digest, zstd:chunked manifest position/checksum). */
  annotations?: Record<string, string>;
  /** Stored indexes of this blob (keyed by its digest by the caller). */
  store?: IndexStore;
  /** Decompressed copies of single-frame zstd layers, keyed by diff_id. */
  derived?: DerivedBlobStore;
  /** A SOCI zTOC for this layer (fetched by the caller through the referrers API). */
  ztoc?: Uint8Array;
  /** Use eStargz / zstd:chunked TOCs when the layer has one (default true). */
  useToc?: boolean;
}

/** An opened layer. */
export interface TarLayer {
  fs: TarFileSystem;
  /** The uncompressed tar stream (or, for TOC layers, the virtual stream of file contents). */
  source: ByteSource;
  format: LayerFormat;
}

/** Opens a tar layer blob of any standard kind as a {@link TarFileSystem}. */
export async function openTarLayer(blob: ByteSource, options: OpenTarLayerOptions = {}): Promise<TarLayer> {
  let compression = options.mediaType === undefined ? undefined : layerCompression(options.mediaType);
  if (compression === undefined)
    compression = sniffCompression(blob.size ? await blob.read(0, Math.min(4, blob.size), options) : new Uint8Array(0));
  const useToc = options.useToc ?? true;
  switch (compression) {
    case 'none': {
      if (options.ztoc) {
        const l = await openSociLayer(blob, options.ztoc, options);
        if (l.ztoc.algorithm !== 'uncompressed')
          throw new UnsupportedLayerError('a gzip zTOC for an uncompressed tar layer');
        return { fs: l.fs, source: l.source, format: 'soci' };
      }
      const index = await loadOrScanTar(blob, options.store, options);
      return { fs: new TarFileSystem(index, blob), source: blob, format: 'tar' };
    }
    case 'gzip': {
      if (options.ztoc) {
        const l = await openSociLayer(blob, options.ztoc, options);
        if (l.ztoc.algorithm !== 'gzip') throw new UnsupportedLayerError('an uncompressed zTOC for a gzip layer');
        return { fs: l.fs, source: l.source, format: 'soci' };
      }
      const footer = useToc ? await detectEstargz(blob, options) : undefined;
      if (footer) {
        const l = await openEstargzLayer(blob, { ...options, footer });
        return { fs: l.fs, source: l.source, format: 'estargz' };
      }
      const l = await openGzipLayer(blob, options);
      return { fs: l.fs, source: l.source, format: 'gzip' };
    }
    case 'zstd': {
      const position = useToc ? await detectZstdChunked(blob, options.annotations, options) : undefined;
      if (position) {
        const l = await openZstdChunkedLayer(blob, { ...options, position });
        return { fs: l.fs, source: l.source, format: 'zstd:chunked' };
      }
      const l = await openZstdLayer(blob, options);
      return { fs: l.fs, source: l.source, format: 'zstd' };
    }
    default:
      throw new UnsupportedLayerError(`compression ${String(compression)}`);
  }
}
