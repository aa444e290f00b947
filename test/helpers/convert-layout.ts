// Reading what `ocifs convert` wrote into an OCI layout: the manifest a tag names, its config,
// and the path of each blob.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface LayoutImage {
  manifest: {
    mediaType: string;
    config: { digest: string; mediaType: string };
    layers: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[];
  };
  config: { rootfs: { diff_ids: string[] }; history?: { empty_layer?: boolean; created_by?: string }[] };
  /** The manifest's descriptor in index.json. */
  descriptor: { digest: string; mediaType: string; size: number };
}

/** The path of a blob in a layout. */
export function blobPath(layout: string, digest: string): string {
  return join(layout, 'blobs', ...digest.split(':'));
}

/** The image tagged `tag` in the layout at `dir`. */
export async function readLayoutImage(dir: string, tag: string): Promise<LayoutImage> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as {
    manifests: (LayoutImage['descriptor'] & { annotations?: Record<string, string> })[];
  };
  const descriptor = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!descriptor) throw new Error(`${dir}: no tag ${tag}`);
  const manifest = JSON.parse(await readFile(blobPath(dir, descriptor.digest), 'utf8')) as LayoutImage['manifest'];
  const config = JSON.parse(await readFile(blobPath(dir, manifest.config.digest), 'utf8')) as LayoutImage['config'];
  return { manifest, config, descriptor };
}
