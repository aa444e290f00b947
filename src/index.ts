/**
 * ocifs: read container images in OCI registries on demand.
 *
 * This entry is the facade most programs need: {@link openImage} and the image it gives, the
 * read-only file system model with its tools (paths, walks, extraction, the layer merge), byte
 * sources, references and digests, and every error's base class and codes. Each part of the
 * library has its own entry besides: `ocifs/registry`, `ocifs/cache`, `ocifs/erofs`,
 * `ocifs/tar`, `ocifs/codec`, `ocifs/oci`, `ocifs/config`, `ocifs/mount`, `ocifs/build`,
 * `ocifs/convert`, `ocifs/serve` and `ocifs/web` (and `ocifs/io`, `ocifs/ref`, `ocifs/vfs`,
 * `ocifs/extract`, `ocifs/image`, whose names this one re-exports).
 *
 * @packageDocumentation
 */
export * from './errors.js';
export * from './io/index.js';
export * from './ref/index.js';
export * from './vfs/index.js';
export * from './extract/index.js';
export * from './image/index.js';
