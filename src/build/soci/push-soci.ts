/**
 * Publishes a SOCI index next to its image, blobs first and manifests last:
 * - v1: the zTOCs and the empty config, then the index manifest with the image manifest as
 *   `subject`, through the referrers API or its tag-schema fallback (`sha256-<hex>`, merged).
 *   The image itself is not touched.
 * - v2: the same blobs and the index manifest by digest, the image manifest re-serialised with
 *   the `com.amazon.soci.index-digest` annotation (layers untouched) by digest, and last the
 *   image index naming both under the tag — the only write a reader of the tag can see, so the
 *   tag holds either the old image or the complete new one.
 *
 * @packageDocumentation
 */
import { InvalidOptionError } from '../../errors.js';
import type { Image } from '../../image/index.js';
import { configPlatform, parseImageConfig, type Platform } from '../../oci/index.js';
import { pushReferrer, RegistryPusher, type CallOptions } from '../../registry/index.js';
import { SOCI_INDEX_V1 } from '../../tar/index.js';
import {
  annotatedManifest,
  EMPTY_CONFIG,
  SOCI_BUILD_TOOL,
  sociImageIndex,
  sociIndexManifest,
  type BuiltManifest,
} from './soci-index.js';
import type { BuiltZtoc } from './build-ztocs.js';

/** Options of {@link pushSociIndex}. */
export interface PushSociOptions extends CallOptions {
  version: 1 | 2;
  /** `build-tool-identifier` annotation. */
  buildTool: string;
  /** v2: the tag the SOCI-enabled image goes under (default: the reference's tag). */
  tag?: string;
  /** Called after each blob or manifest is in place. */
  onPushed?: (what: string, digest: string) => void;
}

/** What was published. */
export interface PushedSociIndex {
  /** The SOCI index manifest. */
  index: BuiltManifest;
  /** v1: how the referrer was recorded. */
  via?: 'api' | 'tag';
  /** v1 fallback / v2: the tag written. */
  tag?: string;
  /** v2: the annotated image manifest and the image index under the tag. */
  imageManifest?: BuiltManifest;
  imageIndex?: BuiltManifest;
}

/** Pushes the zTOCs and the SOCI index of `image` (see the module comment). */
export async function pushSociIndex(
  image: Image,
  ztocs: readonly BuiltZtoc[],
  options: PushSociOptions,
): Promise<PushedSociIndex> {
  const resolved = image.resolved;
  const client = image.client;
  const ref = image.reference;
  if (!resolved || !client || !ref)
    throw new InvalidOptionError('--push', 'only an image in a registry can get a SOCI index pushed');
  const v2Tag = options.version === 2 ? (options.tag ?? ref.tag) : undefined;
  if (options.version === 2 && (v2Tag === undefined || (ref.digest !== undefined && options.tag === undefined))) {
    throw new InvalidOptionError(
      '--tag',
      'a SOCI v2 image is a new image: name the tag it goes under (the reference has a digest)',
    );
  }
  const pusher = new RegistryPusher(client);
  const call = options.signal ? { signal: options.signal } : {};
  await pusher.pushBlob(ref, EMPTY_CONFIG, call);
  for (const z of ztocs) {
    await pusher.pushBlob(ref, z.bytes, { ...call, digest: z.digest });
    options.onPushed?.('zTOC', z.digest);
  }
  const subject = {
    mediaType: resolved.mediaType,
    digest: resolved.manifestDigest,
    size: resolved.manifestBytes.byteLength,
  };
  if (options.version === 1) {
    const index = sociIndexManifest(1, ztocs, options.buildTool, subject);
    const referrer = {
      bytes: index.bytes,
      mediaType: index.mediaType,
      artifactType: SOCI_INDEX_V1,
      annotations: { [SOCI_BUILD_TOOL]: options.buildTool },
    };
    const r = await pushReferrer(client, pusher, ref, referrer, subject.digest, call);
    options.onPushed?.('SOCI index', index.digest);
    return { index, via: r.via, ...(r.tag ? { tag: r.tag } : {}) };
  }
  const index = sociIndexManifest(2, ztocs, options.buildTool);
  await pusher.pushManifest(ref, index.bytes, index.mediaType, call);
  options.onPushed?.('SOCI index', index.digest);
  const manifest = annotatedManifest(resolved.manifestBytes, index.digest);
  await pusher.pushManifest(ref, manifest.bytes, manifest.mediaType, call);
  options.onPushed?.('image manifest', manifest.digest);
  // The image's platform: from its index entry, else its config.
  const platform: Platform =
    resolved.platform ??
    configPlatform(
      parseImageConfig(resolved.configBytes ?? (await client.fetchBlob(ref, resolved.configDescriptor, call))),
    );
  const annotations = (JSON.parse(new TextDecoder().decode(manifest.bytes)) as { annotations: Record<string, string> })
    .annotations;
  const imageIndex = sociImageIndex(
    resolved.index?.bytes,
    resolved.manifestDigest,
    manifest,
    annotations,
    platform,
    index,
  );
  await pusher.pushManifest(ref, imageIndex.bytes, imageIndex.mediaType, { ...call, tag: v2Tag! });
  options.onPushed?.('image index', imageIndex.digest);
  return { index, tag: v2Tag!, imageManifest: manifest, imageIndex };
}
