// Builds OCI image layouts on disk (for skopeo to push): blobs/sha256/*, index.json, oci-layout.
import { createHash } from 'node:crypto';
import { mkdir, writeFile, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const MT_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MT_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MT_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MT_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
export const MT_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const MT_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
export const MT_LAYER_EROFS = 'application/vnd.erofs.layer.v1';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string; variant?: string };
}

export function sha256(bytes: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

/** Writes a blob into the layout and returns its descriptor. */
export async function putBlob(layout: string, bytes: Uint8Array, mediaType: string): Promise<Descriptor> {
  const digest = sha256(bytes);
  const dir = join(layout, 'blobs', 'sha256');
  await mkdir(dir, { recursive: true });
  const path = join(dir, digest.slice(7));
  if (!existsSync(path)) await writeFile(path, bytes);
  return { mediaType, digest, size: bytes.byteLength };
}

/** Writes a JSON document as a blob. */
export async function putJson(layout: string, doc: unknown, mediaType: string): Promise<Descriptor> {
  return putBlob(layout, Buffer.from(JSON.stringify(doc)), mediaType);
}

export interface LayerSpec {
  bytes: Uint8Array;
  mediaType?: string;
  /** Uncompressed digest for the config's rootfs.diff_ids (default: digest of bytes). */
  diffId?: string;
  annotations?: Record<string, string>;
}

export interface ImageSpec {
  layers: LayerSpec[];
  os?: string;
  architecture?: string;
  variant?: string;
  config?: Record<string, unknown>;
  manifestAnnotations?: Record<string, string>;
}

/** Writes config + layers + manifest for one image; returns the manifest descriptor. */
export async function putImage(layout: string, image: ImageSpec): Promise<Descriptor> {
  const layers: Descriptor[] = [];
  for (const l of image.layers) {
    const d = await putBlob(layout, l.bytes, l.mediaType ?? MT_LAYER_TAR);
    if (l.annotations) d.annotations = l.annotations;
    layers.push(d);
  }
  const config = {
    architecture: image.architecture ?? 'amd64',
    os: image.os ?? 'linux',
    ...(image.variant ? { variant: image.variant } : {}),
    config: image.config ?? {},
    rootfs: { type: 'layers', diff_ids: image.layers.map((l) => l.diffId ?? sha256(l.bytes)) },
  };
  const cfg = await putJson(layout, config, MT_CONFIG);
  const manifest = {
    schemaVersion: 2,
    mediaType: MT_MANIFEST,
    config: cfg,
    layers,
    ...(image.manifestAnnotations ? { annotations: image.manifestAnnotations } : {}),
  };
  const desc = await putJson(layout, manifest, MT_MANIFEST);
  desc.platform = {
    os: config.os,
    architecture: config.architecture,
    ...(image.variant ? { variant: image.variant } : {}),
  };
  return desc;
}

/** Adds a tagged entry to the layout's index.json (creating the layout if needed). */
export async function tagInLayout(layout: string, desc: Descriptor, tag: string): Promise<void> {
  await mkdir(layout, { recursive: true });
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const indexPath = join(layout, 'index.json');
  const index = existsSync(indexPath)
    ? JSON.parse(await readFile(indexPath, 'utf8'))
    : { schemaVersion: 2, mediaType: MT_INDEX, manifests: [] };
  index.manifests = index.manifests.filter(
    (m: Descriptor) => m.annotations?.['org.opencontainers.image.ref.name'] !== tag,
  );
  index.manifests.push({ ...desc, annotations: { ...desc.annotations, 'org.opencontainers.image.ref.name': tag } });
  await writeFile(indexPath, JSON.stringify(index));
}

/** Writes a multi-platform image index blob over already written manifests; returns its descriptor. */
export async function putIndex(layout: string, manifests: Descriptor[]): Promise<Descriptor> {
  return putJson(layout, { schemaVersion: 2, mediaType: MT_INDEX, manifests }, MT_INDEX);
}

/** One-call: a layout holding one single-platform image under `tag`. */
export async function writeImageLayout(layout: string, image: ImageSpec, tag = 'latest'): Promise<Descriptor> {
  await mkdir(layout, { recursive: true });
  const desc = await putImage(layout, image);
  await tagInLayout(layout, desc, tag);
  return desc;
}
