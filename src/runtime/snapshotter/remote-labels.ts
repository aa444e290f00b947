/**
 * The labels that ask a snapshotter to mount a layer from its registry instead of letting
 * containerd download and unpack it. containerd's unpacker passes a layer descriptor's
 * `containerd.io/snapshot/…` annotations to Prepare as labels, plus the target name:
 *
 * - `containerd.io/snapshot.ref`: the chain ID the committed snapshot must get (always set by
 *   the unpacker);
 * - set by `ctr-remote image rpull` (stargz-snapshotter's handler): `…/remote/stargz.reference`
 *   (the image reference), `…/remote/stargz.digest` (the layer), `…/remote/stargz.layers` (the
 *   image's layer digests, comma-separated);
 * - set by containerd's CRI plugin when `disable_snapshot_annotations = false`:
 *   `…/cri.image-ref`, `…/cri.layer-digest`, `…/cri.image-layers`, `…/cri.manifest-digest`.
 *
 * @packageDocumentation
 */
import { parseReference } from '../../ref/index.js';

/** The label naming the committed snapshot a Prepare may create. */
export const TARGET_SNAPSHOT_LABEL = 'containerd.io/snapshot.ref';

/** Labels of `ctr-remote image rpull`. */
export const STARGZ_REFERENCE_LABEL = 'containerd.io/snapshot/remote/stargz.reference';
export const STARGZ_DIGEST_LABEL = 'containerd.io/snapshot/remote/stargz.digest';
export const STARGZ_LAYERS_LABEL = 'containerd.io/snapshot/remote/stargz.layers';

/** Labels of containerd's CRI plugin. */
export const CRI_IMAGE_REF_LABEL = 'containerd.io/snapshot/cri.image-ref';
export const CRI_LAYER_DIGEST_LABEL = 'containerd.io/snapshot/cri.layer-digest';
export const CRI_IMAGE_LAYERS_LABEL = 'containerd.io/snapshot/cri.image-layers';
export const CRI_MANIFEST_DIGEST_LABEL = 'containerd.io/snapshot/cri.manifest-digest';

const DIGEST = /^sha256:[0-9a-f]{64}$|^sha512:[0-9a-f]{128}$/;

/** A layer a Prepare asks to mount from a registry. */
export interface RemoteLayerRequest {
  /** The image reference as the labels give it. */
  ref: string;
  layerDigest: string;
  /** The image manifest's digest (CRI gives it). */
  manifestDigest?: string;
  /** The image's layer digests, when given. */
  layers: string[];
  /** Which labels asked. */
  source: 'ctr-remote' | 'cri';
}

/**
 * The remote layer the labels ask for: `undefined` when they ask for none, a string saying
 * what is wrong when they ask for one badly (a fallback reason).
 */
export function remoteLayerRequest(labels: Readonly<Record<string, string>>): RemoteLayerRequest | string | undefined {
  let req: RemoteLayerRequest;
  if (labels[STARGZ_REFERENCE_LABEL] !== undefined || labels[STARGZ_DIGEST_LABEL] !== undefined) {
    req = {
      ref: labels[STARGZ_REFERENCE_LABEL] ?? '',
      layerDigest: labels[STARGZ_DIGEST_LABEL] ?? '',
      layers: split(labels[STARGZ_LAYERS_LABEL]),
      source: 'ctr-remote',
    };
  } else if (labels[CRI_IMAGE_REF_LABEL] !== undefined || labels[CRI_LAYER_DIGEST_LABEL] !== undefined) {
    const m = labels[CRI_MANIFEST_DIGEST_LABEL];
    req = {
      ref: labels[CRI_IMAGE_REF_LABEL] ?? '',
      layerDigest: labels[CRI_LAYER_DIGEST_LABEL] ?? '',
      layers: split(labels[CRI_IMAGE_LAYERS_LABEL]),
      source: 'cri',
      ...(m ? { manifestDigest: m } : {}),
    };
  } else {
    return undefined;
  }
  if (!req.ref) return `${req.source} labels without an image reference`;
  try {
    parseReference(req.ref);
  } catch (err) {
    return `bad image reference ${JSON.stringify(req.ref)}: ${(err as Error).message}`;
  }
  if (!DIGEST.test(req.layerDigest)) return `bad layer digest ${JSON.stringify(req.layerDigest)}`;
  if (req.manifestDigest !== undefined && !DIGEST.test(req.manifestDigest))
    return `bad manifest digest ${JSON.stringify(req.manifestDigest)}`;
  return req;
}

function split(v: string | undefined): string[] {
  return v ? v.split(',').filter((d) => DIGEST.test(d)) : [];
}
