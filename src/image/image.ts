/**
 * The facade: an image reference (or a local image file) → resolved manifest → blobs read
 * through the cache → the image's filesystem, merged over its layers or one layer alone.
 */
import { debuglog } from '../io/debug-log.js';
import { InvalidOptionError, NotFoundError } from '../errors.js';
import { BlobNotInImageError, NoSuchLayerError, NotALayerError, NotARegistryImageError } from './errors.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { FileSource } from '../io/file-source.js';
import { IoStats } from '../io/io-stats.js';
import { parseReference, type ImageReference } from '../ref/index.js';
import { RegistryClient, type RegistryClientOptions, type ResolvedImage } from '../registry/index.js';
import { BlobCache, MemoryBlobCache } from '../cache/index.js';
import type { FileSystem } from '../vfs/types.js';
import { defaultCacheDir } from './cache-dir.js';
import { ImageBlob, type BlobInfo } from './image-blob.js';
import { openRegistryBlob } from './registry-blob.js';
import { LazyFileSystem } from './lazy-fs.js';
import type { LayerSummary } from './layer-fs.js';
import { isLocalImagePath, localImagePath } from './local-path.js';
import type { ZtocDescriptor } from '../tar/soci.js';
import type { BlobIndexStore } from './cache-stores.js';

const debug = debuglog('ocifs:image');

// The format readers (EROFS, tar, their codecs), the layer merge and SOCI are imported when a
// filesystem is first opened, not with the image: copying a blob needs none of them, and with
// them loaded a cold 512 MiB blob stream measured ~0.5 s more CPU (V8 then answered the
// network buffers' external-memory pressure with a mark-compact every few MiB instead of
// scavenges), besides ~50 ms of start-up.

/** Options of {@link openImage}. */
export interface ImageOptions extends ReadOptions {
  /** Cache directory (default {@link defaultCacheDir}). */
  cacheDir?: string;
  /** Keep fetched bytes in memory only (`--no-cache`). */
  noCache?: boolean;
  /** A cache to share between images (then `cacheDir`, `chunkSize`, `cacheMaxSize` are ignored). */
  cache?: BlobCache | MemoryBlobCache;
  /** Chunk size of new cache entries. */
  chunkSize?: number;
  /** Evict least-recently-used blobs to keep the cache under this many bytes. */
  cacheMaxSize?: number;
  /** `os/arch[/variant]` to pick from a multi-platform image (default: this host). */
  platform?: string;
  /** Counters shared by the registry client and the cache (`--stats`). */
  stats?: IoStats;
  /** Registry client options: credentials, insecure, mirrors (`hosts`), timeouts, retries. */
  registry?: RegistryClientOptions;
  /**
   * Download and verify each blob whole before serving any of its bytes. Without it a blob is
   * verified when it becomes complete, so a lying registry's bytes can reach a partial read.
   */
  verifyBeforeServe?: boolean;
  /**
   * Let the cache read ahead on sequential access (default true). A kernel EROFS mount turns it
   * off: the kernel's own readahead already asks for what it wants.
   */
  readahead?: boolean;
  /** Look for a SOCI index (zTOCs) of gzip layers in the registry before indexing them (default true). */
  soci?: boolean;
  /** A client to share (then `registry` is ignored and the client is not closed with the image). */
  client?: RegistryClient;
  /**
   * Fetch and verify the image config (default true): `resolved.config` and the platform it
   * names. Work that only reads layers can skip it — one request fewer before the first byte.
   */
  config?: boolean;
}

/** Which blob: a layer by index (negative counts from the top) or any blob by digest. */
export interface BlobSelector {
  layer?: number;
  digest?: string;
}

/** An opened image. Close it when done. */
export class Image {
  private readonly blobs = new Map<string, Promise<ImageBlob>>();
  private readonly layerFs = new Map<number, LazyFileSystem>();
  private merged: FileSystem | undefined;
  private sociZtocs: Promise<Map<string, ZtocDescriptor>> | undefined;

  private constructor(
    /** `registry` for an image in a registry, `file` for a local image file. */
    readonly kind: 'registry' | 'file',
    /** Canonical reference, or the file path. */
    readonly name: string,
    /** Layers, bottom first. */
    readonly layers: readonly BlobInfo[],
    /** The resolved manifest (registry images only). */
    readonly resolved: ResolvedImage | undefined,
    /** Counters of this image's I/O. */
    readonly stats: IoStats,
    private readonly ctx: {
      client?: RegistryClient;
      ownClient: boolean;
      cache?: BlobCache | MemoryBlobCache;
      ownCache: boolean;
      ref?: ImageReference;
      file?: FileSource;
      signal?: AbortSignal;
      verifyBeforeServe?: boolean;
      soci?: boolean;
      readahead?: boolean;
    },
  ) {}

  /** Opens a reference (`registry/repo:tag`, `…@sha256:…`) or a local file (`/…`, `./…`, `../…`, `file:…`). */
  static async open(input: string, options: ImageOptions = {}): Promise<Image> {
    const stats = options.stats ?? new IoStats();
    if (isLocalImagePath(input)) return Image.openFile(localImagePath(input), stats, options);
    const ref = parseReference(input);
    const client = options.client ?? new RegistryClient({ ...options.registry, stats });
    const ownClient = !options.client;
    const ownCache = !options.cache;
    // The cache directory is checked and opened while the manifest is on its way.
    const opening = options.cache ? Promise.resolve(options.cache) : openImageCache(options, stats);
    opening.catch(() => {}); // awaited below (or closed after a failure)
    try {
      const resolved = await client.resolve(ref, {
        ...(options.platform !== undefined ? { platform: options.platform } : {}),
        ...(options.config === false ? { config: false } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const cache = await opening;
      const layers = resolved.layers.map((d, index) => ({
        index,
        digest: d.digest,
        mediaType: d.mediaType,
        size: d.size,
        ...(d.annotations ? { annotations: d.annotations } : {}),
      }));
      debug('%s → %s (%d layers)', ref.canonical, resolved.manifestDigest, layers.length);
      return new Image('registry', ref.canonical, layers, resolved, stats, {
        client,
        ownClient,
        cache,
        ownCache,
        ref,
        verifyBeforeServe: !!options.verifyBeforeServe,
        soci: options.soci !== false,
        readahead: options.readahead !== false,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      if (ownCache) await (await opening.catch(() => undefined))?.close();
      if (ownClient) await client.close();
      throw err;
    }
  }

  private static async openFile(path: string, stats: IoStats, options: ImageOptions): Promise<Image> {
    const file = await FileSource.open(path).catch((cause: unknown) => {
      const e = cause as NodeJS.ErrnoException;
      const reason = e.code === 'ENOENT' ? 'no such file' : e.message;
      throw new NotFoundError(path, { reason, cause, data: { path } });
    });
    const layers = [{ index: 0, digest: '', mediaType: 'application/octet-stream', size: file.size }];
    return new Image('file', path, layers, undefined, stats, {
      ownClient: false,
      ownCache: false,
      file,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /**
   * Another manifest of the same repository (an entry of this image's index), sharing this
   * image's client and cache (which stay this image's to close).
   */
  async openSibling(digest: string, options: Pick<ImageOptions, 'config' | 'signal'> = {}): Promise<Image> {
    if (!this.resolved) throw new NotARegistryImageError(this.name);
    return Image.open(`${this.resolved.registry}/${this.resolved.repository}@${digest}`, {
      client: this.ctx.client!,
      cache: this.ctx.cache!,
      stats: this.stats,
      ...(this.ctx.verifyBeforeServe ? { verifyBeforeServe: true } : {}),
      ...(this.ctx.soci === false ? { soci: false } : {}),
      ...options,
    });
  }

  /** The blob a selector names; throws a clear error when there is none. */
  select(selector: BlobSelector = {}): BlobInfo {
    if (selector.layer !== undefined && selector.digest !== undefined) {
      throw new InvalidOptionError('layer', 'give --layer or --digest, not both');
    }
    if (selector.digest !== undefined) {
      const found = this.layers.find((l) => l.digest === selector.digest);
      if (found) return found;
      const cfg = this.resolved?.configDescriptor;
      if (cfg && cfg.digest === selector.digest)
        return { index: -1, digest: cfg.digest, mediaType: cfg.mediaType, size: cfg.size };
      throw new BlobNotInImageError(this.name, selector.digest);
    }
    const n = this.layers.length;
    const i = selector.layer ?? n - 1;
    if (!Number.isInteger(i) || i >= n || i < -n) {
      const valid = `the image has ${n} layer${n === 1 ? '' : 's'}: 0…${n - 1}, or -1…-${n}`;
      throw new NoSuchLayerError(`${this.name}: no layer ${i} (${valid})`, { layer: i, layers: n });
    }
    return this.layers[i < 0 ? n + i : i];
  }

  /** Opens one blob for random-access reads through the cache. */
  openBlob(selector: BlobSelector = {}): Promise<ImageBlob> {
    const info = this.select(selector);
    const key = info.digest || `file:${info.index}`;
    let p = this.blobs.get(key);
    if (!p) {
      p = this.makeBlob(info);
      p.catch(() => this.blobs.delete(key));
      this.blobs.set(key, p);
    }
    return p;
  }

  private async makeBlob(info: BlobInfo): Promise<ImageBlob> {
    if (this.ctx.file) return new ImageBlob(info, this.ctx.file, undefined);
    return openRegistryBlob(this.ctx.client!, this.ctx.cache!, this.ctx.ref!, info, {
      stats: this.stats,
      ...(this.ctx.verifyBeforeServe ? { verifyBeforeServe: true } : {}),
      ...(this.ctx.readahead === false ? { readahead: false } : {}),
    });
  }

  /**
   * The image's filesystem: with a selector, that one layer; without, all layers merged with
   * whiteouts applied (layers are opened only when a lookup reaches them).
   */
  async openFileSystem(selector?: BlobSelector): Promise<FileSystem> {
    if (selector && (selector.layer !== undefined || selector.digest !== undefined)) {
      const info = this.select(selector);
      if (info.index < 0) throw new NotALayerError(this.name, info.digest);
      return this.layerFileSystem(info);
    }
    if (this.layers.length === 1) return this.layerFileSystem(this.layers[0]);
    if (!this.merged) {
      const { MergedFileSystem } = await import('../vfs/merge.js');
      this.merged ??= new MergedFileSystem(this.layers.map((l) => ({ fs: this.layerFileSystem(l) })));
    }
    return this.merged;
  }

  private layerFileSystem(info: BlobInfo): LazyFileSystem {
    let fs = this.layerFs.get(info.index);
    if (!fs) {
      fs = new LazyFileSystem(async () => {
        const blob = await this.openBlob({ layer: info.index });
        const { openLayerFileSystem } = await import('./layer-fs.js');
        return openLayerFileSystem(blob, {
          name: `${this.name} layer ${info.index}`,
          ...(this.ctx.cache ? { cache: this.ctx.cache } : {}),
          ...(this.ctx.soci ? { ztoc: () => this.ztocFor(info) } : {}),
          ...(this.ctx.signal ? { signal: this.ctx.signal } : {}),
        });
      });
      this.layerFs.set(info.index, fs);
    }
    return fs;
  }

  /** The SOCI zTOC of a gzip layer, when the registry holds a SOCI index for this image. */
  private async ztocFor(layer: BlobInfo): Promise<Uint8Array | undefined> {
    const { client, ref } = this.ctx;
    if (!client || !ref || !this.resolved) return undefined;
    const [{ findSociIndex }, { MAX_ZTOC_SIZE }] = await Promise.all([
      import('./soci-lookup.js'),
      import('../tar/soci.js'),
    ]);
    this.sociZtocs ??= findSociIndex(client, ref, this.resolved, this.ctx.signal).catch((err: unknown) => {
      debug('%s: no SOCI index (%s)', this.name, err instanceof Error ? err.message : String(err));
      return new Map();
    });
    const d = (await this.sociZtocs).get(layer.digest);
    if (!d) return undefined;
    debug('%s: layer %d has a SOCI zTOC %s', this.name, layer.index, d.digest);
    return client.fetchBlob(ref, d, {
      maxSize: MAX_ZTOC_SIZE,
      ...(this.ctx.signal ? { signal: this.ctx.signal } : {}),
    });
  }

  /** The registry client this image is read through (registry images): pushes reuse its credentials. */
  get client(): RegistryClient | undefined {
    return this.ctx.client;
  }

  /** The parsed reference (registry images). */
  get reference(): ImageReference | undefined {
    return this.ctx.ref;
  }

  /**
   * Where the indexes derived from a layer blob are kept (sidecars of its cached instance: see
   * `sidecarIndexStore`), so work on a layer reuses and leaves the indexes every reader of it
   * uses. Take it before reading the blob for an index; `intact` then says whether every byte
   * read since is in the one instance the indexes go with.
   */
  async indexStore(info: BlobInfo): Promise<BlobIndexStore | undefined> {
    if (!this.ctx.cache || !info.digest || info.index < 0) return undefined;
    const cached = (await this.openBlob({ layer: info.index })).cachedSource;
    if (!cached) return undefined;
    const { sidecarIndexStore } = await import('./cache-stores.js');
    return sidecarIndexStore(cached, this.ctx.signal ? { signal: this.ctx.signal } : {});
  }

  /**
   * What one layer is, for `ocifs info`: its format and the format's summary (EROFS: the
   * superblock as `dump.erofs -s` shows it).
   */
  async layerSummary(selector: BlobSelector = {}): Promise<LayerSummary> {
    const info = this.select(selector);
    if (info.index < 0) throw new NotALayerError(this.name, info.digest);
    const fs = await this.layerFileSystem(info).get();
    const { summarizeLayerFileSystem } = await import('./layer-fs.js');
    return { layer: info, ...summarizeLayerFileSystem(fs) };
  }

  /** Closes filesystems, blobs, the cache and the client this image opened. */
  async close(): Promise<void> {
    await this.merged?.close?.();
    for (const fs of this.layerFs.values()) await fs.close();
    for (const p of this.blobs.values())
      await p.then(
        (b) => b.close(),
        () => {},
      );
    if (this.ctx.ownCache) await this.ctx.cache?.close();
    if (this.ctx.ownClient) await this.ctx.client?.close();
    await this.ctx.file?.close();
  }
}

/** Opens an image; see {@link Image.open}. */
export function openImage(input: string, options: ImageOptions = {}): Promise<Image> {
  return Image.open(input, options);
}

/**
 * The cache {@link openImage} opens when it is given none (`cacheDir`, `noCache`, `chunkSize`,
 * `cacheMaxSize`): for a caller that opens many images over one cache.
 */
export async function openImageCache(options: ImageOptions, stats: IoStats): Promise<BlobCache | MemoryBlobCache> {
  const common = { stats, ...(options.chunkSize !== undefined ? { chunkSize: options.chunkSize } : {}) };
  if (options.noCache) return new MemoryBlobCache(common);
  return BlobCache.open(options.cacheDir ?? defaultCacheDir(), {
    ...common,
    ...(options.cacheMaxSize !== undefined ? { maxSize: options.cacheMaxSize } : {}),
  });
}

export type { ByteSource };
