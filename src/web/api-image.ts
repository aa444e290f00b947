/**
 * What an image is, for the page's image view: the manifest and config as the registry sent
 * them, the config's summary, the history next to the layers it made, and per layer its
 * format as ocifs reads it, its indexes in the cache and how much of it the cache holds.
 * Nothing here reads a layer: formats of layers not yet opened are what their media types
 * and annotations announce (`GET /api/layer` opens one and says exactly).
 *
 * @packageDocumentation
 */
import { LazyFileSystem, summarizeLayerFileSystem, type Image } from '../image/index.js';
import { BlobCache, type MemoryBlobCache } from '../cache/index.js';
import { formatPlatform, normalizePlatform, type HistoryEntry } from '../oci/index.js';
import {
  layerCompression,
  TOC_DIGEST_ANNOTATION,
  ZSTD_CHUNKED_MANIFEST_CHECKSUM,
  type LayerFormat as TarAccess,
} from '../tar/index.js';
import type { FileSystem } from '../vfs/types.js';
import type { HistoryDoc, ImageDoc, LayerDoc, LayerInfoDoc } from './api-types.js';
import type { ImageViews } from './image-views.js';

/** How the page names the way a layer is read, by the tar reader's access kind. */
const ACCESS_LABEL: Record<TarAccess, string> = {
  tar: 'tar',
  gzip: 'tar+gzip (gzip index)',
  estargz: 'tar+gzip (eStargz TOC)',
  soci: 'tar+gzip (SOCI zTOC)',
  zstd: 'tar+zstd (frame index)',
  'zstd:chunked': 'tar+zstd (zstd:chunked TOC)',
};

/** The format a layer's descriptor announces, before ocifs has read it. */
export function announcedFormat(mediaType: string, annotations: Record<string, string> | undefined): string {
  if (/erofs/i.test(mediaType)) return 'erofs';
  const c = layerCompression(mediaType);
  if (c === 'gzip') return annotations?.[TOC_DIGEST_ANNOTATION] ? 'tar+gzip (eStargz)' : 'tar+gzip';
  if (c === 'zstd') return annotations?.[ZSTD_CHUNKED_MANIFEST_CHECKSUM] ? 'tar+zstd (zstd:chunked)' : 'tar+zstd';
  if (c === 'none') return 'tar';
  return 'unknown until read';
}

/** The format of an opened layer filesystem, as the page names it. */
function openedFormat(real: FileSystem): string {
  const s = summarizeLayerFileSystem(real);
  if (s.format === 'erofs') return 'erofs';
  return ACCESS_LABEL[(s.details.access as TarAccess | undefined) ?? 'tar'] ?? s.format;
}

/** What the cache holds of a blob. */
async function cacheFacts(
  cache: BlobCache | MemoryBlobCache,
  digest: string,
): Promise<Pick<LayerDoc, 'indexes' | 'cachedBytes' | 'verified'>> {
  if (!(cache instanceof BlobCache) || !digest) return { indexes: [], cachedBytes: null, verified: false };
  const e = await cache.stat(digest).catch(() => undefined);
  return { indexes: e?.sidecars ?? [], cachedBytes: e?.presentBytes ?? 0, verified: e?.verified ?? false };
}

/** One layer's document. */
export async function layerDoc(
  views: ImageViews,
  index: number,
  cache: BlobCache | MemoryBlobCache,
): Promise<LayerDoc> {
  const l = views.image.layers[index];
  const fs = views.layer(index);
  let format = announcedFormat(l.mediaType, l.annotations);
  let formatKnown = false;
  if (fs instanceof LazyFileSystem && fs.isOpen) {
    format = openedFormat(await fs.get());
    formatKnown = true;
  }
  return {
    index,
    digest: l.digest,
    mediaType: l.mediaType,
    size: l.size,
    ...(l.annotations ? { annotations: l.annotations } : {}),
    format,
    formatKnown,
    ...(await cacheFacts(cache, l.digest)),
  };
}

/** The history, each non-empty step next to the layer it made (in order, bottom first). */
export function historyDocs(history: HistoryEntry[] | undefined, layers: number): HistoryDoc[] {
  let next = 0;
  return (history ?? []).map((h) => {
    const empty = h.empty_layer === true;
    const layer = !empty && next < layers ? next++ : undefined;
    return {
      ...(h.created !== undefined ? { created: h.created } : {}),
      ...(h.created_by !== undefined ? { createdBy: h.created_by } : {}),
      ...(h.comment !== undefined ? { comment: h.comment } : {}),
      ...(h.author !== undefined ? { author: h.author } : {}),
      emptyLayer: empty,
      ...(layer !== undefined ? { layer } : {}),
    };
  });
}

function parseJson(bytes: Uint8Array | undefined): unknown {
  if (!bytes) return undefined;
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The image document of `GET /api/image`. */
export async function imageDoc(ref: string, views: ImageViews, cache: BlobCache | MemoryBlobCache): Promise<ImageDoc> {
  const image: Image = views.image;
  const layers: LayerDoc[] = [];
  for (let i = 0; i < image.layers.length; i++) layers.push(await layerDoc(views, i, cache));
  const layerBytes = image.layers.reduce((n, l) => n + l.size, 0);
  const r = image.resolved;
  if (!r) {
    return {
      ref,
      canonical: image.name,
      registry: '',
      repository: '',
      kind: 'file',
      digest: '',
      mediaType: '',
      manifest: null,
      history: [],
      layers,
      totalSize: layerBytes,
    };
  }
  const c = r.config;
  const rc = c?.config;
  return {
    ref,
    canonical: r.reference.canonical,
    registry: r.registry,
    repository: r.repository,
    ...(r.reference.tag ? { tag: r.reference.tag } : {}),
    kind: 'registry',
    digest: r.manifestDigest,
    mediaType: r.mediaType,
    ...(r.platform ? { platform: formatPlatform(r.platform) } : {}),
    ...(r.index
      ? {
          index: {
            digest: r.index.digest,
            mediaType: r.index.mediaType,
            document: parseJson(r.index.bytes),
            platforms: r.index.index.manifests
              .filter((m) => m.platform)
              .map((m) => ({
                platform: formatPlatform(normalizePlatform(m.platform!)),
                digest: m.digest,
                mediaType: m.mediaType,
                size: m.size,
              })),
          },
        }
      : {}),
    manifest: parseJson(r.manifestBytes),
    ...(r.configBytes ? { config: parseJson(r.configBytes) } : {}),
    configDescriptor: {
      digest: r.configDescriptor.digest,
      mediaType: r.configDescriptor.mediaType,
      size: r.configDescriptor.size,
    },
    ...(c
      ? {
          summary: {
            ...(c.created !== undefined ? { created: c.created } : {}),
            ...(c.author !== undefined ? { author: c.author } : {}),
            ...(rc?.User ? { user: rc.User } : {}),
            ...(rc?.WorkingDir ? { workingDir: rc.WorkingDir } : {}),
            ...(rc?.Entrypoint ? { entrypoint: rc.Entrypoint } : {}),
            ...(rc?.Cmd ? { cmd: rc.Cmd } : {}),
            ...(rc?.Env ? { env: rc.Env } : {}),
            ...(rc?.Labels ? { labels: rc.Labels } : {}),
            ...(rc?.ExposedPorts ? { exposedPorts: Object.keys(rc.ExposedPorts) } : {}),
            ...(rc?.Volumes ? { volumes: Object.keys(rc.Volumes) } : {}),
            ...(rc?.StopSignal ? { stopSignal: rc.StopSignal } : {}),
          },
        }
      : {}),
    history: historyDocs(c?.history, image.layers.length),
    layers,
    totalSize: layerBytes + r.manifestBytes.byteLength + r.configDescriptor.size,
  };
}

/** `GET /api/layer`: opens the layer (a gzip layer's first opening indexes it) and describes it. */
export async function layerInfoDoc(views: ImageViews, index: number): Promise<LayerInfoDoc> {
  const s = await views.image.layerSummary({ layer: index });
  const fs = views.layer(index);
  const format = fs instanceof LazyFileSystem ? openedFormat(await fs.get()) : s.format;
  return { index, format, details: s.details, text: s.text };
}
