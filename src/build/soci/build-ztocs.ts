/**
 * Builds the zTOCs of an image's layers, as `soci create` does, but through ocifs's own cache:
 * each tar+gzip layer gets the checkpoint pass every reader uses (so a layer already read on
 * this machine needs no pass at all, and one indexed here can be read afterwards without
 * one), each plain tar layer its header scan; the span digests are then taken from the cached
 * blob. Layers smaller than the minimum size, and formats SOCI cannot index, are skipped with
 * the reason; layers are built in parallel up to the core count.
 *
 * @packageDocumentation
 */
import { availableParallelism } from 'node:os';
import { debuglog } from '../../io/debug-log.js';
import { InvalidOptionError, throwIfAborted } from '../../errors.js';
import { CacheUnstableError } from '../../cache/index.js';
import type { ReadOptions } from '../../io/byte-source.js';
import { digestOf } from '../../ref/index.js';
import type { BlobInfo, Image } from '../../image/index.js';
import {
  buildGzipIndex,
  DEFAULT_CHECKPOINT_SPAN,
  layerCompression,
  loadOrBuildGzipIndex,
  loadOrScanTar,
  MAX_CHECKPOINT_SPAN,
  type TarEntry,
} from '../../tar/index.js';
import { gzipSpanRanges, packGzipZinfo, packTarZinfo, spanDigests, tarSpanRanges } from './zinfo.js';
import { writeZtoc, ztocCanDescribe, ZTOC_GZIP, ZTOC_UNCOMPRESSED } from './ztoc-writer.js';
import type { ZtocRef } from './soci-index.js';

const debug = debuglog('ocifs:build');

/** soci's default span size: uncompressed bytes between checkpoints. */
export const DEFAULT_SOCI_SPAN = DEFAULT_CHECKPOINT_SPAN;
/** soci's default smallest layer indexed (smaller ones are fetched whole quickly anyway). */
export const DEFAULT_MIN_LAYER_SIZE = 10 * 1024 * 1024;

/** Options of {@link buildZtocs}. */
export interface BuildZtocsOptions extends ReadOptions {
  /** Uncompressed bytes per span (default {@link DEFAULT_SOCI_SPAN}). */
  spanSize?: number;
  /** Layers smaller than this are skipped (default {@link DEFAULT_MIN_LAYER_SIZE}). */
  minLayerSize?: number;
  /** Layers built at once (default: the core count). */
  concurrency?: number;
  /** `build_tool_identifier` of the zTOCs. */
  buildTool?: string;
  /** Progress of the layer passes: compressed bytes done and total, per layer index. */
  onProgress?: (layer: number, done: number, total: number) => void;
}

/** A built zTOC. */
export interface BuiltZtoc extends ZtocRef {
  bytes: Uint8Array;
  /** Spans (checkpoints). */
  spans: number;
  algorithm: 'gzip' | 'uncompressed';
  /** Files and other members listed. */
  entries: number;
}

/** What happened to one layer. */
export interface LayerZtoc {
  layer: BlobInfo;
  ztoc?: BuiltZtoc;
  /** Why the layer has no zTOC. */
  skipped?: string;
}

/** Validates the span and minimum layer size options; returns them with defaults. */
export function sociBuildSettings(options: Pick<BuildZtocsOptions, 'spanSize' | 'minLayerSize' | 'concurrency'>): {
  spanSize: number;
  minLayerSize: number;
  concurrency: number;
} {
  const spanSize = options.spanSize ?? DEFAULT_SOCI_SPAN;
  if (!Number.isSafeInteger(spanSize) || spanSize < 64 * 1024 || spanSize > MAX_CHECKPOINT_SPAN / 2) {
    throw new InvalidOptionError('--span', `must be between 64 KiB and ${MAX_CHECKPOINT_SPAN / 2 / 1024 / 1024} MiB`);
  }
  const minLayerSize = options.minLayerSize ?? DEFAULT_MIN_LAYER_SIZE;
  if (!Number.isSafeInteger(minLayerSize) || minLayerSize < 0)
    throw new InvalidOptionError('--min-layer-size', 'must be a size ≥ 0');
  const concurrency = options.concurrency ?? availableParallelism();
  if (!Number.isSafeInteger(concurrency) || concurrency < 1)
    throw new InvalidOptionError('concurrency', 'must be an integer ≥ 1');
  return { spanSize, minLayerSize, concurrency };
}

/** Builds the zTOCs of every layer of `image` (results in layer order). */
export async function buildZtocs(image: Image, options: BuildZtocsOptions = {}): Promise<LayerZtoc[]> {
  const { spanSize, minLayerSize, concurrency } = sociBuildSettings(options);
  const out: LayerZtoc[] = image.layers.map((layer) => ({ layer }));
  let next = 0;
  const worker = async () => {
    while (next < out.length) {
      const slot = out[next++];
      throwIfAborted(options.signal);
      const why = skipReason(slot.layer, minLayerSize);
      if (why) slot.skipped = why;
      else {
        const built = await buildLayerZtoc(image, slot.layer, spanSize, options);
        if ('skipped' in built) slot.skipped = built.skipped;
        else slot.ztoc = built;
      }
      debug(
        'layer %d: %s',
        slot.layer.index,
        slot.ztoc ? `${slot.ztoc.spans} spans, zTOC ${slot.ztoc.size} bytes` : slot.skipped,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, out.length) }, worker));
  return out;
}

function skipReason(layer: BlobInfo, minLayerSize: number): string | undefined {
  const c = layerCompression(layer.mediaType);
  if (c === undefined) return `media type ${layer.mediaType} is not a tar layer`;
  if (c === 'zstd') return 'tar+zstd: SOCI indexes gzip and plain tar layers only';
  if (layer.size < minLayerSize) return `smaller than the minimum layer size (${layer.size} < ${minLayerSize} bytes)`;
  return undefined;
}

async function buildLayerZtoc(
  image: Image,
  layer: BlobInfo,
  spanSize: number,
  options: BuildZtocsOptions,
  again = false,
): Promise<BuiltZtoc | { skipped: string }> {
  const blob = await image.openBlob({ layer: layer.index });
  const store = await image.indexStore(layer);
  const read = options.signal ? { signal: options.signal } : {};
  const gzip = layerCompression(layer.mediaType) === 'gzip';
  let entries: TarEntry[];
  let uncompressedSize: number;
  let checkpoints: Uint8Array;
  let ranges;
  if (gzip) {
    const passOptions = {
      ...read,
      span: spanSize,
      ...(options.onProgress ? { onProgress: (d: number, t: number) => options.onProgress!(layer.index, d, t) } : {}),
    };
    // The cached index is the readers' (default span); another span needs a pass of its own.
    const index =
      spanSize === DEFAULT_CHECKPOINT_SPAN
        ? (await loadOrBuildGzipIndex(blob, { ...passOptions, ...(store ? { store } : {}) })).index
        : await buildGzipIndex(blob, passOptions);
    entries = index.tar.entries;
    uncompressedSize = index.tarSize;
    checkpoints = packGzipZinfo(index.checkpoints, spanSize);
    ranges = gzipSpanRanges(index.checkpoints, blob.size);
  } else {
    const index = await loadOrScanTar(blob, store, read);
    entries = index.entries;
    uncompressedSize = blob.size;
    checkpoints = packTarZinfo(spanSize, blob.size);
    ranges = tarSpanRanges(spanSize, blob.size);
  }
  const odd = entries.find((e) => !ztocCanDescribe(e));
  if (odd)
    return {
      skipped: `${odd.sparse ? 'sparse file' : odd.type} ${JSON.stringify(odd.path)}: a zTOC cannot describe it`,
    };
  const digests = await spanDigests(blob, ranges, read);
  // The span digests read the whole layer, so it is verified now. The entries are published
  // too: they must come from the bytes that verified. If the layer's cached copy changed
  // while they were read (discarded, or dropped for another origin's verified copy), read
  // them again, from the verified blob.
  if (store && !store.intact) {
    if (again) throw new CacheUnstableError(layer.digest, `layer ${layer.digest}`);
    debug('layer %d: its cached copy changed while it was indexed; indexing the verified blob again', layer.index);
    return buildLayerZtoc(image, layer, spanSize, options, true);
  }
  options.onProgress?.(layer.index, blob.size, blob.size);
  const bytes = writeZtoc({
    buildTool: options.buildTool ?? 'ocifs',
    compressedSize: blob.size,
    uncompressedSize,
    entries,
    algorithm: gzip ? ZTOC_GZIP : ZTOC_UNCOMPRESSED,
    spanDigests: digests,
    checkpoints,
  });
  return {
    bytes,
    digest: digestOf(bytes),
    size: bytes.byteLength,
    layerDigest: layer.digest,
    layerMediaType: layer.mediaType,
    spanSize,
    spans: ranges.length,
    algorithm: gzip ? 'gzip' : 'uncompressed',
    entries: entries.length,
  };
}
