/**
 * The JSON the web server's API answers, shared by the server (src/web) and the page
 * (src/web/page), so both sides agree on every field. Types only: nothing here runs.
 *
 * Every string in these documents that comes from an image or a registry (names, link
 * targets, labels, tags, JSON documents) is data: the page shows it as text, never as markup.
 *
 * @packageDocumentation
 */

/** An error answer: `{"error": {...}}` with an HTTP status from 400 to 599. */
export interface ApiError {
  error: { code: string; message: string };
}

/** One layer in {@link ImageDoc}. */
export interface LayerDoc {
  index: number;
  digest: string;
  mediaType: string;
  size: number;
  annotations?: Record<string, string>;
  /**
   * How ocifs reads the layer: exact once it has been opened (`erofs`, `tar`, `tar+gzip (gzip
   * index)`, `tar+gzip (eStargz)`, `tar+gzip (SOCI)`, `tar+zstd`, `tar+zstd (zstd:chunked)`),
   * else what its media type and annotations announce.
   */
  format: string;
  /** True when `format` comes from the opened layer, false when it is announced only. */
  formatKnown: boolean;
  /** Indexes of the layer ocifs keeps in its cache (`gzip-index`, `tar-index` …). */
  indexes: string[];
  /** Bytes of the blob in the cache (null: the cache is in memory only, or unknown). */
  cachedBytes: number | null;
  /** The whole blob is in the cache and matched its digest. */
  verified: boolean;
}

/** One step of the config's history, next to the layer it made. */
export interface HistoryDoc {
  created?: string;
  createdBy?: string;
  comment?: string;
  author?: string;
  emptyLayer: boolean;
  /** Index of the layer this step made (absent for empty layers). */
  layer?: number;
}

/** One platform of an image index. */
export interface PlatformDoc {
  platform: string;
  digest: string;
  mediaType: string;
  size: number;
}

/** `GET /api/image?ref=R[&platform=P]`: what the image is. */
export interface ImageDoc {
  ref: string;
  canonical: string;
  registry: string;
  repository: string;
  tag?: string;
  /** `file` for a local image file (then most fields are empty). */
  kind: 'registry' | 'file';
  digest: string;
  mediaType: string;
  platform?: string;
  index?: { digest: string; mediaType: string; platforms: PlatformDoc[]; document: unknown };
  manifest: unknown;
  config?: unknown;
  configDescriptor?: { digest: string; mediaType: string; size: number };
  summary?: {
    created?: string;
    author?: string;
    user?: string;
    workingDir?: string;
    entrypoint?: string[];
    cmd?: string[];
    env?: string[];
    labels?: Record<string, string>;
    exposedPorts?: string[];
    volumes?: string[];
    stopSignal?: string;
  };
  history: HistoryDoc[];
  layers: LayerDoc[];
  /** Manifest + config + layers. */
  totalSize: number;
}

/** `GET /api/layer?ref&layer=N`: the layer opened, as `ocifs info` describes it. */
export interface LayerInfoDoc {
  index: number;
  format: string;
  details: Record<string, unknown>;
  text: string;
}

/** `GET /api/tags?ref&n&last`: one page of the repository's tags. */
export interface TagsDoc {
  repository: string;
  tags: string[];
  next?: string;
}

/** How a layer changed an entry (the `dive` marks). */
export type ChangeMark = 'added' | 'changed' | 'deleted';

/** One directory entry. */
export interface EntryDoc {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket';
  /** Permission bits (with setuid/setgid/sticky), without the type. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  nlink: number;
  rdev?: number;
  /** Symlink target, as stored. */
  target?: string;
  /** The layer the entry comes from (for a merged directory: its topmost layer). */
  layer?: number;
  /** In a layer view: what that layer did to the entry. */
  mark?: ChangeMark;
}

/** `GET /api/dir?ref&layer&path`: one directory. */
export interface DirDoc {
  /** The directory's canonical path (symlinks on the way resolved inside the image). */
  path: string;
  layer: 'merged' | number;
  entries: EntryDoc[];
}

/** What the first bytes of a file look like. */
export type ContentKind = 'text' | 'binary' | 'png' | 'jpeg' | 'gif' | 'svg' | 'elf' | 'empty';

/** ELF header facts. */
export interface ElfDoc {
  class: 32 | 64;
  endian: 'little' | 'big';
  type: string;
  machine: string;
  interpreter?: string;
  entry: string;
}

/** `GET /api/stat?ref&layer&path`: one entry, and what its content is. */
export interface StatDoc {
  /** The path as asked, made absolute. */
  path: string;
  entry: EntryDoc;
  /** For a symlink: the canonical path it leads to inside the image, when it resolves. */
  resolved?: string;
  resolvedType?: EntryDoc['type'];
  /** For a file: what its first bytes look like. */
  kind?: ContentKind;
  elf?: ElfDoc;
}

/** `GET /api/status?ref`: what browsing has cost since the server started. */
export interface StatusDoc {
  bytesFetched: number;
  requests: number;
  cacheHitBytes: number;
  /** Size of the image named by `ref` (manifest, config, layers), when it is open. */
  imageSize?: number;
  startedAt: string;
}

/** A node of the size tree: `[name, bytes]` for a file, `[name, bytes, children]` for a directory. */
export type SizeNode = [string, number] | [string, number, SizeNode[]];

/** Bytes a layer added, and how many of them a later layer hid (overwrote or deleted). */
export interface LayerBytesDoc {
  index: number;
  added: number;
  wasted: number;
  files: number;
}

/** Lines of the NDJSON stream of `GET /api/sizes?ref`. */
export type SizesLine =
  | { t: 'progress'; scanned: number; phase: string }
  | { t: 'done'; tree: SizeNode; layers: LayerBytesDoc[]; files: number }
  | { t: 'error'; error: ApiError['error'] };

/** Lines of the NDJSON stream of `GET /api/find?ref&layer&q`. */
export type FindLine =
  | { t: 'progress'; scanned: number; at: string }
  | { t: 'match'; path: string; type: EntryDoc['type']; size: number }
  | { t: 'done'; scanned: number; matches: number; truncated: boolean }
  | { t: 'error'; error: ApiError['error'] };

/** One difference between two images. */
export interface DiffEntry {
  path: string;
  status: 'added' | 'removed' | 'changed';
  type: EntryDoc['type'];
  /** Bytes in A and B (a directory: all files under it, for an added or removed one). */
  sizeA?: number;
  sizeB?: number;
  /** For `changed`: which attributes differ (`type`, `size`, `mode`, `owner`, `mtime`, `target`, `rdev`). */
  what?: string[];
}

/** Lines of the NDJSON stream of `GET /api/diff?a&b&path&deep`. */
export type DiffLine =
  | { t: 'progress'; scanned: number; at: string }
  | { t: 'diff'; entry: DiffEntry }
  | { t: 'done'; scanned: number; differences: number; skippedDirs: number; truncated: boolean }
  | { t: 'error'; error: ApiError['error'] };
