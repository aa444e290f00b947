/**
 * What a mount server opens: a description that survives a trip through JSON (the CLI hands it
 * to a background process), and the opened filesystem or blob it yields.
 *
 * @packageDocumentation
 */
import type { ByteSource } from '../io/byte-source.js';
import { FileSource } from '../io/file-source.js';
import type { IoStats } from '../io/io-stats.js';
import { OcifsError } from '../errors.js';
import type { FileSystem } from '../vfs/types.js';

/** How to open what is mounted. */
export type MountSourceSpec =
  /** A local EROFS image file (for tests, benchmarks, and images already on disk). */
  | { kind: 'erofs-file'; path: string };

/** Options of a fill of the cache in the background. */
export interface PrefetchOptions {
  /** Called as bytes become present: `done` of `total`. */
  onProgress(done: number, total: number): void;
  signal: AbortSignal;
}

/** An opened mount source. */
export interface OpenedSource {
  /** The file tree (file-tree mode). */
  fs?: FileSystem;
  /** The EROFS blob (kernel mode). */
  blob?: ByteSource;
  /** Digest of what is mounted, when known. */
  digest?: string;
  /** Network counters, when the source fetches. */
  ioStats?: IoStats;
  /** Fills the rest of the blob(s) at low priority, when the source has a cache to fill. */
  prefetch?(options: PrefetchOptions): Promise<void>;
  /** Releases everything the source opened. */
  close(): Promise<void>;
}

/** Opens a source for a mode; `tree` needs `fs`, `kernel` needs `blob`. */
export type SourceOpener = (spec: MountSourceSpec, mode: 'tree' | 'kernel') => Promise<OpenedSource>;

/** The built-in opener. */
export const openMountSource: SourceOpener = async (spec, mode) => {
  switch (spec.kind) {
    case 'erofs-file': {
      const file = await FileSource.open(spec.path);
      if (mode === 'kernel') return { blob: file, close: () => file.close() };
      await file.close();
      throw new OcifsError('ERR_OCIFS_UNSUPPORTED', 'the file-tree mode of a local EROFS file needs the EROFS reader, which is not available yet');
    }
    default:
      throw new OcifsError('ERR_OCIFS_UNSUPPORTED', `unknown mount source kind ${JSON.stringify((spec as { kind: unknown }).kind)}`);
  }
};
