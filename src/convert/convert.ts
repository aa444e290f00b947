/**
 * `convert`: an image (every layer read once, through the cache) → new layers written as they
 * are produced → config, manifest(s), and last the tag. Formats: EROFS (one image per layer
 * with overlayfs whiteouts, or `flatten`: one image of the merged tree), eStargz, zstd:chunked.
 *
 * Memory: tar-based outputs hold at most a few compressed members / frames (4 MiB each); EROFS
 * holds the tree's metadata (one node per file, about 200 bytes) and at most `tailBudget` of
 * file tails, never file contents — a multi-GB layer converts in a bounded footprint.
 *
 * @packageDocumentation
 */
import { rename, rm } from 'node:fs/promises';
import { InvalidOptionError, throwIfAborted } from '../errors.js';
import { ConvertError } from './errors.js';
import type { Image } from '../image/index.js';
import type { Descriptor } from '../oci/descriptor.js';
import {
  MEDIA_TYPE_EROFS_LAYER,
  MEDIA_TYPE_OCI_CONFIG,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_LAYER_GZIP,
  MEDIA_TYPE_OCI_LAYER_ZSTD,
  MEDIA_TYPE_OCI_MANIFEST,
} from '../oci/media-types.js';
import { ErofsWriter } from '../build/erofs/writer.js';
import type { ErofsCompression } from '../build/erofs/compress.js';
import { EstargzWriter, UNCOMPRESSED_SIZE_ANNOTATION } from '../build/estargz-writer.js';
import { estargzOrder } from '../build/estargz-order.js';
import { ZstdChunkedWriter } from '../build/zstd-chunked-writer.js';
import { fsEntries } from '../build/fs-entries.js';
import { DirHistory } from '../build/dir-history.js';
import { TOC_DIGEST_ANNOTATION } from '../tar/estargz.js';
import { convertedConfig } from './image-config.js';
import { openLayerSource, type LayerSource } from './layer-source.js';
import type { ImageTarget } from './target.js';

/** Formats `convert` writes. */
export type ConvertFormat = 'erofs' | 'estargz' | 'zstd-chunked';
/** Every {@link ConvertFormat}. */
export const CONVERT_FORMATS: readonly ConvertFormat[] = ['erofs', 'estargz', 'zstd-chunked'];

/** Progress of a conversion. */
export interface ConvertProgress {
  /** Layers done and in all (of all platforms). */
  layersDone: number;
  layers: number;
  /** Compressed source bytes read, and in all. */
  bytesRead: number;
  bytesTotal: number;
}

/** Options of {@link convertImage}. */
export interface ConvertOptions {
  to: ConvertFormat;
  /** EROFS only: one image of the merged layers. */
  flatten?: boolean;
  /** EROFS file data compression (default none). */
  compression?: ErofsCompression;
  /** eStargz only: paths (absolute in the image) to put first, before `.prefetch.landmark`. */
  prioritizedFiles?: readonly string[];
  /** Convert every platform of an index (default: the image as opened, one platform). */
  allPlatforms?: boolean;
  onProgress?: (p: ConvertProgress) => void;
  signal?: AbortSignal;
}

/** What a conversion made. */
export interface ConvertResult {
  /** The descriptor the destination tag now names (a manifest, or an index). */
  descriptor: Descriptor;
  /** The new manifests, one per platform. */
  manifests: { descriptor: Descriptor; layers: Descriptor[] }[];
}

/** Checks option combinations; throws an {@link InvalidOptionError} naming the option. */
export function checkConvertOptions(o: ConvertOptions): void {
  if (!CONVERT_FORMATS.includes(o.to))
    throw new InvalidOptionError('--to', `must be one of ${CONVERT_FORMATS.join(', ')}`);
  if (o.flatten && o.to !== 'erofs') throw new InvalidOptionError('--flatten', 'only with --to erofs');
  if (o.compression !== undefined && o.compression !== 'none' && o.to !== 'erofs')
    throw new InvalidOptionError('--compress', 'only with --to erofs');
  if (o.prioritizedFiles?.length && o.to !== 'estargz')
    throw new InvalidOptionError('--prioritize-files', 'only with --to estargz');
}

/** Progress shared by the layers of all platforms. */
class Tracker {
  layersDone = 0;
  bytesDone = 0;
  current: LayerSource[] = [];
  constructor(
    readonly layers: number,
    readonly bytesTotal: number,
    private readonly cb?: (p: ConvertProgress) => void,
  ) {}
  report(): void {
    const read = this.bytesDone + this.current.reduce((n, s) => n + s.bytesRead, 0);
    this.cb?.({
      layersDone: this.layersDone,
      layers: this.layers,
      bytesRead: Math.min(read, this.bytesTotal),
      bytesTotal: this.bytesTotal,
    });
  }
  done(src: LayerSource): void {
    this.current = this.current.filter((s) => s !== src);
    this.layersDone++;
    this.bytesDone += src.info.size;
    this.report();
  }
}

/**
 * Writes the EROFS image of `image`'s merged tree to `path` (top layer first, each streamed
 * once; an image with an EROFS layer is walked through its merged filesystem instead).
 */
async function writeFlatErofs(
  image: Image,
  path: string,
  options: Pick<ConvertOptions, 'compression' | 'signal'>,
  tracker?: Tracker,
): Promise<void> {
  const sources: LayerSource[] = [];
  for (let i = 0; i < image.layers.length; i++) sources.push(await openLayerSource(image, i, options.signal));
  const streamable = sources.every((s) => s.format !== 'erofs');
  const writer = await ErofsWriter.create(path, {
    mode: streamable ? 'flatten' : 'layer',
    ...(options.compression ? { compression: options.compression } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    onProgress: () => tracker?.report(),
  });
  try {
    if (streamable) {
      for (let i = sources.length - 1; i >= 0; i--) {
        tracker?.current.push(sources[i]);
        await writer.addEntries(sources[i].entries(), i);
        tracker?.done(sources[i]);
      }
    } else {
      await writer.addEntries(
        fsEntries(await image.openFileSystem(), options.signal ? { signal: options.signal } : {}),
      );
      for (const s of sources) tracker?.done(s);
    }
    await writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

async function convertLayer(
  image: Image,
  src: LayerSource,
  target: ImageTarget,
  o: ConvertOptions,
  dirs: DirHistory,
): Promise<{ desc: Descriptor; diffId: string }> {
  const signal = o.signal;
  if (o.to === 'erofs') {
    const path = await target.scratchPath();
    const writer = await ErofsWriter.create(path, {
      mode: 'layer',
      impliedDir: (p) => dirs.get(p),
      ...(o.compression ? { compression: o.compression } : {}),
      ...(signal ? { signal } : {}),
    });
    try {
      await writer.addEntries(dirs.observe(src.entries()));
      await writer.finish();
      dirs.endLayer();
    } catch (err) {
      await writer.abort();
      throw err;
    }
    const stored = await target.writeBlobFile(path, signal ? { signal } : {});
    // An EROFS layer is not compressed as a blob: its diff_id is its digest.
    return { desc: { mediaType: MEDIA_TYPE_EROFS_LAYER, ...stored }, diffId: stored.digest };
  }
  if (o.to === 'estargz') {
    let res!: Awaited<ReturnType<EstargzWriter['finish']>>;
    const stored = await target.writeBlob(
      async (sink) => {
        const w = new EstargzWriter(sink, signal ? { signal } : {});
        try {
          const ordered = estargzOrder(
            src.entries({ ociWhiteouts: true }),
            o.prioritizedFiles ?? [],
            () => image.openFileSystem({ layer: src.info.index }),
            signal ? { signal } : {},
          );
          for await (const e of ordered) await w.add(e);
          res = await w.finish();
        } catch (err) {
          await w.abort();
          throw err;
        }
      },
      signal ? { signal } : {},
    );
    const annotations = {
      [TOC_DIGEST_ANNOTATION]: res.tocDigest,
      [UNCOMPRESSED_SIZE_ANNOTATION]: String(res.uncompressedSize),
    };
    return { desc: { mediaType: MEDIA_TYPE_OCI_LAYER_GZIP, ...stored, annotations }, diffId: res.diffId };
  }
  let res!: Awaited<ReturnType<ZstdChunkedWriter['finish']>>;
  const stored = await target.writeBlob(
    async (sink) => {
      const w = await ZstdChunkedWriter.create(sink, signal ? { signal } : {});
      for await (const e of src.entries({ ociWhiteouts: true })) await w.add(e);
      res = await w.finish();
    },
    signal ? { signal } : {},
  );
  return {
    desc: { mediaType: MEDIA_TYPE_OCI_LAYER_ZSTD, ...stored, annotations: res.annotations },
    diffId: res.diffId,
  };
}

function imageConfigBytes(image: Image): Uint8Array {
  const r = image.resolved;
  if (!r) throw new ConvertError(`${image.name} is a local file: convert reads images from a registry`);
  if (!r.config || !r.configBytes)
    throw new ConvertError(`${image.name} is not a container image (its config is ${r.configDescriptor.mediaType})`);
  return r.configBytes;
}

/** Converts one platform's image; returns its new manifest. */
async function convertOne(
  image: Image,
  target: ImageTarget,
  o: ConvertOptions,
  tracker: Tracker,
): Promise<{ descriptor: Descriptor; layers: Descriptor[] }> {
  const config = imageConfigBytes(image);
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  if (o.flatten) {
    const path = await target.scratchPath();
    await writeFlatErofs(image, path, o, tracker);
    const stored = await target.writeBlobFile(path, o.signal ? { signal: o.signal } : {});
    layers.push({ mediaType: MEDIA_TYPE_EROFS_LAYER, ...stored });
    diffIds.push(stored.digest);
  } else {
    const dirs = new DirHistory();
    for (let i = 0; i < image.layers.length; i++) {
      throwIfAborted(o.signal);
      const src = await openLayerSource(image, i, o.signal);
      tracker.current.push(src);
      const { desc, diffId } = await convertLayer(image, src, target, o, dirs);
      tracker.done(src);
      layers.push(desc);
      diffIds.push(diffId);
    }
  }
  const newConfig = convertedConfig(config, diffIds, o.flatten ? `ocifs convert --to erofs --flatten` : undefined);
  const cfg = await target.writeBytes(newConfig, o.signal ? { signal: o.signal } : {});
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_OCI_MANIFEST,
    config: { mediaType: MEDIA_TYPE_OCI_CONFIG, ...cfg },
    layers,
  };
  const ann = image.resolved!.manifest.annotations;
  if (ann && Object.keys(ann).length) manifest.annotations = ann;
  const descriptor = await target.putManifest(
    Buffer.from(JSON.stringify(manifest)),
    MEDIA_TYPE_OCI_MANIFEST,
    o.signal ? { signal: o.signal } : {},
  );
  return { descriptor, layers };
}

/**
 * Converts `image` (and, with `allPlatforms`, every platform of the index it came from) into
 * `target`, then points the target's tag at the result.
 */
export async function convertImage(image: Image, target: ImageTarget, o: ConvertOptions): Promise<ConvertResult> {
  checkConvertOptions(o);
  const index = o.allPlatforms ? image.resolved?.index : undefined;
  const images: { image: Image; platform?: Descriptor['platform']; own: boolean }[] = [];
  try {
    if (index) {
      for (const d of index.index.manifests) {
        if (d.digest === image.resolved!.manifestDigest) images.push({ image, platform: d.platform, own: false });
        else
          images.push({
            image: await image.openSibling(d.digest, { config: true, ...(o.signal ? { signal: o.signal } : {}) }),
            platform: d.platform,
            own: true,
          });
      }
    } else {
      images.push({ image, own: false });
    }
    const layers = images.reduce((n, i) => n + i.image.layers.length, 0);
    const bytes = images.reduce((n, i) => n + i.image.layers.reduce((m, l) => m + l.size, 0), 0);
    const tracker = new Tracker(layers, bytes, o.onProgress);
    tracker.report();
    const manifests: ConvertResult['manifests'] = [];
    for (const i of images) {
      const m = await convertOne(i.image, target, o, tracker);
      manifests.push({
        descriptor: i.platform ? { ...m.descriptor, platform: i.platform } : m.descriptor,
        layers: m.layers,
      });
    }
    let descriptor = manifests[0].descriptor;
    if (index) {
      const doc = { schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: manifests.map((m) => m.descriptor) };
      descriptor = await target.putManifest(
        Buffer.from(JSON.stringify(doc)),
        MEDIA_TYPE_OCI_INDEX,
        o.signal ? { signal: o.signal } : {},
      );
    }
    await target.commit(descriptor, o.signal ? { signal: o.signal } : {});
    return { descriptor, manifests };
  } finally {
    for (const i of images) if (i.own) await i.image.close();
  }
}

/**
 * `convert --to erofs --flatten -o FILE`: the merged tree as one EROFS image file, written
 * beside FILE and renamed over it when complete.
 */
export async function convertToErofsFile(
  image: Image,
  file: string,
  o: Pick<ConvertOptions, 'compression' | 'signal' | 'onProgress'>,
): Promise<void> {
  const tmp = `${file}.ocifs-tmp-${process.pid}`;
  const tracker = new Tracker(
    image.layers.length,
    image.layers.reduce((n, l) => n + l.size, 0),
    o.onProgress,
  );
  tracker.report();
  try {
    await writeFlatErofs(image, tmp, o, tracker);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
