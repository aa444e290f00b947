/**
 * Turns a remote-layer request (an image reference and a layer digest from the labels) into
 * the layer's full descriptor — size, media type, annotations (eStargz and zstd:chunked keep
 * their TOC position there) — and the manifest that lists it (its SOCI index is found through
 * it). One manifest request per image: containerd prepares an image's layers one after
 * another, and the resolution is shared by all of them for a minute.
 *
 * @packageDocumentation
 */
import { BlobNotInImageError } from '../../image/index.js';
import { parseReference } from '../../ref/index.js';
import type { RegistryClient, ResolvedImage } from '../../registry/index.js';
import { SOCI_INDEX_DIGEST_ANNOTATION } from '../../tar/soci.js';
import type { RemoteLayer } from './metadata-store.js';
import type { RemoteLayerRequest } from './remote-labels.js';

/** How long a resolved manifest is reused. */
export const RESOLVE_REUSE_MS = 60_000;

/** Resolves layers of images, sharing manifest requests (see the module comment). */
export class LayerResolver {
  private readonly resolved = new Map<string, { at: number; image: Promise<ResolvedImage> }>();

  constructor(
    private readonly client: RegistryClient,
    private readonly platform?: string,
  ) {}

  private resolve(ref: string, signal?: AbortSignal): Promise<ResolvedImage> {
    const hit = this.resolved.get(ref);
    if (hit && Date.now() - hit.at < RESOLVE_REUSE_MS) return hit.image;
    const image = this.client.resolve(ref, {
      config: false,
      ...(this.platform ? { platform: this.platform } : {}),
      ...(signal ? { signal } : {}),
    });
    image.catch(() => this.resolved.delete(ref));
    this.resolved.set(ref, { at: Date.now(), image });
    return image;
  }

  /** The layer's descriptor and manifest; throws (a registry error) when it cannot be found. */
  async layer(req: RemoteLayerRequest, signal?: AbortSignal): Promise<RemoteLayer> {
    const ref = parseReference(req.ref);
    const byDigest = req.manifestDigest ? `${ref.registry}/${ref.repository}@${req.manifestDigest}` : ref.canonical;
    const image = await this.resolve(byDigest, signal);
    const d = image.layers.find((l) => l.digest === req.layerDigest);
    if (!d) {
      throw new BlobNotInImageError(`${ref.canonical} (manifest ${image.manifestDigest})`, req.layerDigest);
    }
    const soci = image.manifest.annotations?.[SOCI_INDEX_DIGEST_ANNOTATION];
    return {
      ref: ref.canonical,
      digest: d.digest,
      size: d.size,
      mediaType: d.mediaType,
      ...(d.annotations ? { annotations: d.annotations } : {}),
      manifestDigest: image.manifestDigest,
      ...(soci ? { manifestAnnotations: { [SOCI_INDEX_DIGEST_ANNOTATION]: soci } } : {}),
    };
  }
}
