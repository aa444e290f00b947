/**
 * Finds the SOCI index of an image, so gzip layers can be read through its zTOCs instead of a
 * pass over each layer: SOCI v2 names it in the image manifest's annotation; SOCI v1 attaches
 * it as a referrer of the manifest (the referrers API, or its tag-schema fallback).
 */
import type { ImageReference } from '../ref/index.js';
import type { RegistryClient, ResolvedImage } from '../registry/index.js';
import { parseSociIndex, SOCI_INDEX_V1, type ZtocDescriptor } from '../tar/soci.js';

/** Annotation of a SOCI v2 image manifest naming its SOCI index manifest. */
export const SOCI_INDEX_DIGEST_ANNOTATION = 'com.amazon.soci.index-digest';

/** zTOC descriptors of the image's SOCI index by layer digest (empty when there is none). */
export async function findSociIndex(client: RegistryClient, ref: ImageReference, image: ResolvedImage, signal?: AbortSignal): Promise<Map<string, ZtocDescriptor>> {
  const opts = signal ? { signal } : {};
  const byLayer = new Map<string, ZtocDescriptor>();
  const add = (bytes: Uint8Array) => {
    for (const z of parseSociIndex(bytes).ztocs) if (!byLayer.has(z.layerDigest)) byLayer.set(z.layerDigest, z);
  };
  const v2 = image.manifest.annotations?.[SOCI_INDEX_DIGEST_ANNOTATION];
  if (v2) {
    add((await client.fetchManifest(ref, v2, opts)).bytes);
    return byLayer;
  }
  const referrers = await client.referrers(ref, image.manifestDigest, { ...opts, artifactType: SOCI_INDEX_V1 });
  for (const d of referrers) add((await client.fetchManifest(ref, d.digest, opts)).bytes);
  return byLayer;
}
