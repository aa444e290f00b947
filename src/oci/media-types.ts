/** OCI image manifest. */
export const MEDIA_TYPE_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** OCI image index (multi-platform). */
export const MEDIA_TYPE_OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
/** OCI image config. */
export const MEDIA_TYPE_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
/** OCI empty descriptor's media type (artifacts without a config). */
export const MEDIA_TYPE_OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
/** Docker image manifest, schema 2. */
export const MEDIA_TYPE_DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
/** Docker manifest list (multi-platform), schema 2. */
export const MEDIA_TYPE_DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
/** Docker image config, schema 2. */
export const MEDIA_TYPE_DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
/** Docker schema 1 manifests: refused (no content-addressed config, signed JWS, long deprecated). */
export const MEDIA_TYPES_DOCKER_SCHEMA1 = [
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
] as const;

/** Layer media types ocifs knows. */
export const MEDIA_TYPE_OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
export const MEDIA_TYPE_OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const MEDIA_TYPE_OCI_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
export const MEDIA_TYPE_DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const MEDIA_TYPE_DOCKER_LAYER_FOREIGN = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';
export const MEDIA_TYPE_EROFS = 'application/vnd.erofs';
/** An EROFS layer, as containerd 2.3's EROFS differ names it (what `ocifs convert --to erofs` writes). */
export const MEDIA_TYPE_EROFS_LAYER = 'application/vnd.erofs.layer.v1';

/** Manifest media types (single image). */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST];
/** Index media types (multi-platform). */
export const INDEX_MEDIA_TYPES: readonly string[] = [MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_DOCKER_MANIFEST_LIST];

/** The `Accept` header value for manifest requests: every type ocifs can read, nothing else. */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_DOCKER_MANIFEST_LIST,
  MEDIA_TYPE_OCI_MANIFEST,
  MEDIA_TYPE_DOCKER_MANIFEST,
].join(', ');

/** True for single-image manifest types. */
export function isManifestMediaType(mt: string | undefined): boolean {
  return mt !== undefined && MANIFEST_MEDIA_TYPES.includes(mt);
}

/** True for index / manifest list types. */
export function isIndexMediaType(mt: string | undefined): boolean {
  return mt !== undefined && INDEX_MEDIA_TYPES.includes(mt);
}

/** True for Docker schema 1 types, which ocifs refuses. */
export function isSchema1MediaType(mt: string | undefined): boolean {
  return mt !== undefined && (MEDIA_TYPES_DOCKER_SCHEMA1 as readonly string[]).includes(mt);
}

/** Strips parameters (`; charset=utf-8`) and case from a Content-Type value. */
export function baseMediaType(contentType: string | undefined | null): string | undefined {
  if (!contentType) return undefined;
  const mt = contentType.split(';')[0].trim().toLowerCase();
  return mt.length > 0 ? mt : undefined;
}
