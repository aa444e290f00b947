/**
 * Where a conversion puts the new image: blobs as they are produced, then the manifests, and
 * last the tag (the only step that changes what the destination name means, so an interrupted
 * conversion leaves the old image or the complete new one). An OCI image layout directory
 * (`LayoutTarget`) and a registry repository (`RegistryTarget`) implement it.
 *
 * @packageDocumentation
 */
import type { ByteSink } from '../build/sink.js';
import type { Descriptor } from '../oci/descriptor.js';

/** A blob's identity once stored. */
export interface StoredBlob {
  digest: string;
  size: number;
}

/** A destination for a converted image. */
export interface ImageTarget {
  /** Names the destination in messages (`oci:DIR:TAG`, `registry/repo:tag`). */
  readonly name: string;
  /** Streams a new blob: `produce` writes its bytes into the sink, in order. */
  writeBlob(produce: (sink: ByteSink) => Promise<void>, options?: { signal?: AbortSignal }): Promise<StoredBlob>;
  /** Stores a small blob held in memory (a config); a store that already has it keeps it. */
  writeBytes(bytes: Uint8Array, options?: { signal?: AbortSignal }): Promise<StoredBlob>;
  /** A path for a file that will become a blob ({@link writeBlobFile}); on the store's filesystem when there is one. */
  scratchPath(): Promise<string>;
  /** Stores the file at `path` (made from {@link scratchPath}) as a blob; the file is consumed. */
  writeBlobFile(path: string, options?: { signal?: AbortSignal }): Promise<StoredBlob>;
  /** Stores a manifest or index document (untagged). */
  putManifest(bytes: Uint8Array, mediaType: string, options?: { signal?: AbortSignal }): Promise<Descriptor>;
  /** Points the destination's tag at `desc`: the last step, atomic. */
  commit(desc: Descriptor, options?: { signal?: AbortSignal }): Promise<void>;
  /** Releases what the target holds; removes scratch files left by a failure. */
  close(): Promise<void>;
}
