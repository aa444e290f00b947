/**
 * Finds the SOCI index of an image, so gzip layers can be read through its zTOCs instead of a
 * pass over each layer: SOCI v2 names it in the image manifest's annotation; SOCI v1 attaches
 * it as a referrer of the manifest (the referrers API, or its tag-schema fallback).
 */
import { debuglog } from '../io/debug-log.js';
import type { ImageReference } from '../ref/index.js';
import type { RegistryClient, ResolvedImage } from '../registry/index.js';
import { parseSociIndex, SOCI_INDEX_DIGEST_ANNOTATION, SOCI_INDEX_V1, type ZtocDescriptor } from '../tar/soci.js';

const debug = debuglog('ocifs:image');

/** What the SOCI lookup needs of an image: its manifest's digest and annotations. */
export type SociSearchImage = Pick<ResolvedImage, 'manifestDigest'> & {
  manifest: { annotations?: Record<string, string> };
};

/**
 * zTOC descriptors of the image's SOCI index by layer digest (empty when there is none). A v1
 * index is bound to one image by its `subject`: one listed for this manifest but made for
 * another (a copied referrer, a referrers tag written by hand) is refused, never used.
 */
export async function findSociIndex(
  client: RegistryClient,
  ref: ImageReference,
  image: SociSearchImage,
  signal?: AbortSignal,
): Promise<Map<string, ZtocDescriptor>> {
  const opts = signal ? { signal } : {};
  const byLayer = new Map<string, ZtocDescriptor>();
  const add = (bytes: Uint8Array, requireSubject: boolean) => {
    const index = parseSociIndex(bytes);
    if (requireSubject && index.subject !== image.manifestDigest) {
      debug(
        '%s: SOCI index refers to %s, not this image (%s): refused',
        ref.canonical,
        index.subject ?? 'no subject',
        image.manifestDigest,
      );
      return;
    }
    for (const z of index.ztocs) if (!byLayer.has(z.layerDigest)) byLayer.set(z.layerDigest, z);
  };
  // v2: the manifest itself names its index (the binding is the manifest's own digest).
  const v2 = image.manifest.annotations?.[SOCI_INDEX_DIGEST_ANNOTATION];
  if (v2) {
    add((await client.fetchManifest(ref, v2, opts)).bytes, false);
    return byLayer;
  }
  const referrers = await client.referrers(ref, image.manifestDigest, { ...opts, artifactType: SOCI_INDEX_V1 });
  for (const d of referrers) add((await client.fetchManifest(ref, d.digest, opts)).bytes, true);
  return byLayer;
}
