/**
 * The SOCI index manifest (`soci/soci_index.go`, `MarshalIndex`): an OCI image manifest whose
 * config is the empty JSON object typed as the index version, whose layers are the zTOCs (each
 * annotated with the layer it indexes and the span size), and — for v1 — whose `subject` is
 * the image manifest. v2 has no subject: the image manifest names the index instead
 * (`com.amazon.soci.index-digest`), and the image index lists both.
 *
 * @packageDocumentation
 */
import { digestOf } from '../../ref/index.js';
import {
  MEDIA_TYPE_OCI_CONFIG,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_MANIFEST,
  type Descriptor,
  type Platform,
} from '../../oci/index.js';
import { asObject } from '../../oci/descriptor.js';
import {
  SOCI_INDEX_DIGEST_ANNOTATION,
  SOCI_INDEX_V1,
  SOCI_INDEX_V2,
  SOCI_LAYER_DIGEST,
  SOCI_LAYER_MEDIA_TYPE,
} from '../../tar/index.js';

/** Media type of a zTOC blob in the index. */
export const ZTOC_MEDIA_TYPE = 'application/octet-stream';
/** Annotation on a zTOC descriptor: the span size it was built with. */
export const SOCI_SPAN_SIZE = 'com.amazon.soci.span-size';
/** Annotation on the index: the tool that built it. */
export const SOCI_BUILD_TOOL = 'com.amazon.soci.build-tool-identifier';
/** Annotation on a SOCI v2 index's descriptor in the image index: the image manifest it serves. */
export const SOCI_IMAGE_MANIFEST_DIGEST = 'com.amazon.soci.image-manifest-digest';
/** The empty JSON object, the config of every SOCI index. */
export const EMPTY_CONFIG = new TextEncoder().encode('{}');

/** One zTOC of the index. */
export interface ZtocRef {
  digest: string;
  size: number;
  layerDigest: string;
  layerMediaType: string;
  spanSize: number;
}

/** A serialised manifest: its exact bytes and descriptor fields. */
export interface BuiltManifest {
  bytes: Uint8Array;
  digest: string;
  size: number;
  mediaType: string;
}

function built(doc: unknown, mediaType: string): BuiltManifest {
  const bytes = new TextEncoder().encode(JSON.stringify(doc));
  return { bytes, digest: digestOf(bytes), size: bytes.byteLength, mediaType };
}

/** The SOCI index manifest for `ztocs` (layer order); `subject` for v1. */
export function sociIndexManifest(
  version: 1 | 2,
  ztocs: readonly ZtocRef[],
  buildTool: string,
  subject?: Descriptor,
): BuiltManifest {
  const artifactType = version === 1 ? SOCI_INDEX_V1 : SOCI_INDEX_V2;
  return built(
    {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_OCI_MANIFEST,
      artifactType,
      config: { mediaType: artifactType, digest: digestOf(EMPTY_CONFIG), size: EMPTY_CONFIG.byteLength },
      layers: ztocs.map((z) => ({
        mediaType: ZTOC_MEDIA_TYPE,
        digest: z.digest,
        size: z.size,
        annotations: {
          [SOCI_LAYER_DIGEST]: z.layerDigest,
          [SOCI_LAYER_MEDIA_TYPE]: z.layerMediaType,
          [SOCI_SPAN_SIZE]: String(z.spanSize),
        },
      })),
      ...(version === 1 && subject
        ? { subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size } }
        : {}),
      annotations: { [SOCI_BUILD_TOOL]: buildTool },
    },
    MEDIA_TYPE_OCI_MANIFEST,
  );
}

/**
 * The v2 image manifest: the original with OCI media types (registries dislike Docker
 * manifests in OCI indexes) and the SOCI index digest annotation. Layers are untouched.
 */
export function annotatedManifest(original: Uint8Array, sociIndexDigest: string): BuiltManifest {
  const doc = asObject(JSON.parse(new TextDecoder().decode(original)), 'image manifest');
  doc.mediaType = MEDIA_TYPE_OCI_MANIFEST;
  doc.config = { ...asObject(doc.config, 'image manifest config'), mediaType: MEDIA_TYPE_OCI_CONFIG };
  doc.annotations = {
    ...(doc.annotations === undefined ? {} : asObject(doc.annotations, 'image manifest annotations')),
    [SOCI_INDEX_DIGEST_ANNOTATION]: sociIndexDigest,
  };
  return built(doc, MEDIA_TYPE_OCI_MANIFEST);
}

/**
 * The v2 image index: the original index (or a new one around a single manifest) with the
 * image's entry replaced by the annotated manifest and the SOCI index appended (replacing an
 * earlier SOCI v2 index of the same platform), as `soci convert` does.
 */
export function sociImageIndex(
  originalIndex: Uint8Array | undefined,
  oldManifestDigest: string,
  manifest: BuiltManifest,
  annotations: Record<string, string>,
  platform: Platform,
  sociIndex: BuiltManifest,
): BuiltManifest {
  const doc = originalIndex
    ? asObject(JSON.parse(new TextDecoder().decode(originalIndex)), 'image index')
    : { schemaVersion: 2, manifests: [] };
  doc.mediaType = MEDIA_TYPE_OCI_INDEX;
  const entries = Array.isArray(doc.manifests)
    ? (doc.manifests as unknown[]).map((e, i) => asObject(e, `image index manifests[${i}]`))
    : [];
  const samePlatform = (v: unknown) => {
    const p = v as Partial<Platform> | undefined;
    return (
      !!p &&
      p.os === platform.os &&
      p.architecture === platform.architecture &&
      (p.variant ?? '') === (platform.variant ?? '')
    );
  };
  const imageEntry = {
    mediaType: MEDIA_TYPE_OCI_MANIFEST,
    digest: manifest.digest,
    size: manifest.size,
    annotations,
    platform,
  };
  const at = entries.findIndex((e) => e.digest === oldManifestDigest);
  const kept = entries.filter((e) => !(e.artifactType === SOCI_INDEX_V2 && samePlatform(e.platform)));
  const list =
    at >= 0
      ? kept.map((e) =>
          e.digest === oldManifestDigest ? { ...e, ...imageEntry, platform: e.platform ?? platform } : e,
        )
      : [imageEntry, ...kept];
  list.push({
    mediaType: MEDIA_TYPE_OCI_MANIFEST,
    artifactType: SOCI_INDEX_V2,
    digest: sociIndex.digest,
    size: sociIndex.size,
    annotations: { [SOCI_IMAGE_MANIFEST_DIGEST]: manifest.digest },
    platform,
  });
  doc.manifests = list;
  return built(doc, MEDIA_TYPE_OCI_INDEX);
}
