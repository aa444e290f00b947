import {
  baseMediaType,
  isIndexMediaType,
  isManifestMediaType,
  isSchema1MediaType,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_MANIFEST,
} from './media-types.js';
import { BadManifestError } from './errors.js';
import { asMediaType, asObject, asStringMap, parseDescriptor, type Descriptor } from './descriptor.js';

/** Largest manifest or index accepted (registries cap pushes at 4 MiB too). */
export const DEFAULT_MAX_MANIFEST_SIZE = 4 * 1024 * 1024;

/** A single-image manifest (OCI or Docker schema 2). */
export interface ImageManifest {
  schemaVersion: 2;
  /** Effective media type (from the document, else the Content-Type). */
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  artifactType?: string;
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** A multi-platform index (OCI) or manifest list (Docker schema 2). */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  artifactType?: string;
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** A parsed manifest document: one image, or an index of them. */
export type ManifestDocument = { kind: 'manifest'; manifest: ImageManifest } | { kind: 'index'; index: ImageIndex };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes and parses untrusted JSON bytes with a size cap; errors say `what` failed. */
export function parseJsonBytes(bytes: Uint8Array, what: string, maxSize: number): unknown {
  if (bytes.byteLength > maxSize)
    throw new BadManifestError(`${what}: ${bytes.byteLength} bytes is over the ${maxSize}-byte limit`);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (err) {
    throw new BadManifestError(`${what}: not valid UTF-8`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BadManifestError(`${what}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
}

/**
 * Parses a manifest or index fetched from a registry. The type comes from the document's
 * `mediaType`, else the response's Content-Type, else its shape (`manifests` → index,
 * `config`+`layers` → manifest). Docker schema 1 is refused with a clear message.
 */
export function parseManifestDocument(
  bytes: Uint8Array,
  contentType?: string,
  maxSize = DEFAULT_MAX_MANIFEST_SIZE,
): ManifestDocument {
  const ct = baseMediaType(contentType);
  if (isSchema1MediaType(ct)) throw schema1();
  const o = asObject(parseJsonBytes(bytes, 'manifest', maxSize), 'manifest');
  if (o.schemaVersion === 1) throw schema1();
  if (o.schemaVersion !== 2)
    throw new BadManifestError(`manifest: schemaVersion must be 2, got ${JSON.stringify(o.schemaVersion)}`);
  let mediaType: string | undefined;
  if (o.mediaType !== undefined) mediaType = asMediaType(o.mediaType, 'manifest.mediaType');
  if (isSchema1MediaType(mediaType)) throw schema1();
  mediaType ??= isIndexMediaType(ct) || isManifestMediaType(ct) ? ct : undefined;
  mediaType ??= Array.isArray(o.manifests)
    ? MEDIA_TYPE_OCI_INDEX
    : o.config !== undefined
      ? MEDIA_TYPE_OCI_MANIFEST
      : undefined;
  if (isIndexMediaType(mediaType)) return { kind: 'index', index: parseIndexObject(o, mediaType!) };
  if (isManifestMediaType(mediaType)) return { kind: 'manifest', manifest: parseManifestObject(o, mediaType!) };
  throw new BadManifestError(`manifest: unsupported media type ${JSON.stringify(mediaType ?? ct ?? null)}`, {
    data: { mediaType: mediaType ?? ct },
  });
}

function schema1(): BadManifestError {
  return new BadManifestError(
    'Docker schema 1 manifests are not supported (deprecated since 2017); re-push the image with a current tool',
    {
      data: { mediaType: 'application/vnd.docker.distribution.manifest.v1+json' },
    },
  );
}

/** Parses a single-image manifest (throws if the bytes hold an index). */
export function parseImageManifest(
  bytes: Uint8Array,
  contentType?: string,
  maxSize = DEFAULT_MAX_MANIFEST_SIZE,
): ImageManifest {
  const doc = parseManifestDocument(bytes, contentType, maxSize);
  if (doc.kind !== 'manifest')
    throw new BadManifestError(`expected an image manifest, got an index (${doc.index.mediaType})`);
  return doc.manifest;
}

/** Parses an index (throws if the bytes hold a single manifest). */
export function parseImageIndex(
  bytes: Uint8Array,
  contentType?: string,
  maxSize = DEFAULT_MAX_MANIFEST_SIZE,
): ImageIndex {
  const doc = parseManifestDocument(bytes, contentType, maxSize);
  if (doc.kind !== 'index')
    throw new BadManifestError(`expected an index, got an image manifest (${doc.manifest.mediaType})`);
  return doc.index;
}

function parseManifestObject(o: Record<string, unknown>, mediaType: string): ImageManifest {
  if (!Array.isArray(o.layers)) throw new BadManifestError('manifest.layers: expected an array');
  const m: ImageManifest = {
    schemaVersion: 2,
    mediaType,
    config: parseDescriptor(o.config, 'manifest.config'),
    layers: o.layers.map((l, i) => parseDescriptor(l, `manifest.layers[${i}]`)),
  };
  addCommon(m, o, 'manifest');
  return m;
}

function parseIndexObject(o: Record<string, unknown>, mediaType: string): ImageIndex {
  if (!Array.isArray(o.manifests)) throw new BadManifestError('index.manifests: expected an array');
  const idx: ImageIndex = {
    schemaVersion: 2,
    mediaType,
    manifests: o.manifests.map((m, i) => parseDescriptor(m, `index.manifests[${i}]`)),
  };
  addCommon(idx, o, 'index');
  return idx;
}

function addCommon(target: ImageManifest | ImageIndex, o: Record<string, unknown>, where: string): void {
  if (o.artifactType !== undefined) target.artifactType = asMediaType(o.artifactType, `${where}.artifactType`);
  if (o.subject !== undefined) target.subject = parseDescriptor(o.subject, `${where}.subject`);
  if (o.annotations !== undefined) target.annotations = asStringMap(o.annotations, `${where}.annotations`);
}
