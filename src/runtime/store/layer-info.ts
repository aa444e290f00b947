/**
 * The `info` file of a layer in the additional layer store: the JSON containers/storage decodes
 * into its `Layer` record (`layers.go`; PutAdditionalLayer) — the compressed digest and size
 * that the pull matched, the uncompressed digest (the image config's `diff_id`, from which
 * storage derives layer IDs), the uncompressed size when it is known without reading the
 * layer, and the compression as storage's `archive.Compression` numbers it. A layer looked up
 * by its TOC digest (containers/storage 1.54+, eStargz and zstd:chunked) also carries
 * `toc-digest` and the `expected-layer-diffid` flag newer storage reads.
 *
 * @packageDocumentation
 */
import { baseMediaType, MEDIA_TYPE_DOCKER_LAYER_FOREIGN, MEDIA_TYPE_DOCKER_LAYER_GZIP } from '../../oci/index.js';
import { isDigest } from '../../ref/index.js';
import { TOC_DIGEST_ANNOTATION, ZSTD_CHUNKED_MANIFEST_CHECKSUM } from '../../tar/index.js';
import type { BlobInfo } from '../../image/index.js';

/** containers/storage `pkg/archive` Compression values. */
export const STORAGE_COMPRESSION = { uncompressed: 0, gzip: 2, zstd: 4 } as const;

/** The uncompressed size eStargz writers put in the layer descriptor. */
export const ESTARGZ_UNCOMPRESSED_SIZE_ANNOTATION = 'io.containers.estargz.uncompressed-size';

/** The fields of storage's `Layer` the store fills (JSON names as storage spells them). */
export interface StoreLayerInfo {
  'compressed-diff-digest': string;
  'compressed-size': number;
  'diff-digest'?: string;
  'diff-size'?: number;
  compression: number;
  'toc-digest'?: string;
  flags?: { 'expected-layer-diffid': string };
}

/** The TOC digest a layer descriptor announces (eStargz or zstd:chunked), if any. */
export function tocDigestOf(layer: BlobInfo): string | undefined {
  const a = layer.annotations ?? {};
  const d = a[TOC_DIGEST_ANNOTATION] ?? a[ZSTD_CHUNKED_MANIFEST_CHECKSUM];
  return d !== undefined && isDigest(d) ? d : undefined;
}

function compressionOf(mediaType: string): number {
  const mt = baseMediaType(mediaType) ?? mediaType;
  if (mt.endsWith('+gzip') || mt === MEDIA_TYPE_DOCKER_LAYER_GZIP || mt === MEDIA_TYPE_DOCKER_LAYER_FOREIGN)
    return STORAGE_COMPRESSION.gzip;
  if (mt.endsWith('+zstd')) return STORAGE_COMPRESSION.zstd;
  return STORAGE_COMPRESSION.uncompressed;
}

/** The uncompressed size when the descriptor tells it: an uncompressed blob, or eStargz's annotation. */
function uncompressedSizeOf(layer: BlobInfo, compression: number): number | undefined {
  if (compression === STORAGE_COMPRESSION.uncompressed) return layer.size;
  const s = layer.annotations?.[ESTARGZ_UNCOMPRESSED_SIZE_ANNOTATION];
  return s !== undefined && /^\d{1,15}$/.test(s) ? Number(s) : undefined;
}

/**
 * The `info` of `layer` (a descriptor of the image's manifest) whose config `diff_id` is
 * `diffId`; `tocDigest` when containers/storage looked it up by its TOC digest.
 */
export function layerInfo(layer: BlobInfo, diffId: string | undefined, tocDigest?: string): StoreLayerInfo {
  const compression = compressionOf(layer.mediaType);
  const size = uncompressedSizeOf(layer, compression);
  return {
    'compressed-diff-digest': layer.digest,
    'compressed-size': layer.size,
    ...(diffId ? { 'diff-digest': diffId } : {}),
    ...(size !== undefined ? { 'diff-size': size } : {}),
    compression,
    ...(tocDigest
      ? { 'toc-digest': tocDigest, ...(diffId ? { flags: { 'expected-layer-diffid': diffId } } : {}) }
      : {}),
  };
}
