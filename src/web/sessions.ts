/**
 * The images a web server has open. All of them share one registry client (one connection
 * pool, one token cache), one blob cache and one set of I/O counters — the status line's
 * "fetched since start". An image stays open while the page uses it; the least recently used
 * ones beyond {@link MAX_OPEN_IMAGES} are closed once no request holds them. A reference by
 * tag is resolved again after {@link TAG_TTL_MS}, so a tag pushed anew shows its new image.
 *
 * @packageDocumentation
 */
import { IoStats } from '../io/io-stats.js';
import { openImage, isLocalImagePath, type ImageOptions } from '../image/index.js';
import { BlobCache, MemoryBlobCache } from '../cache/index.js';
import { RegistryClient, type ListTagsOptions, type TagsPage } from '../registry/index.js';
import { InvalidReferenceError, parseReference, type ImageReference } from '../ref/index.js';
import { defaultCacheDir } from '../image/index.js';
import { ImageViews } from './image-views.js';

/** Images kept open at most (beyond it the least recently used unheld one is closed). */
export const MAX_OPEN_IMAGES = 8;
/** How long a tag's resolution is reused before the registry is asked again. */
export const TAG_TTL_MS = 5 * 60_000;

/** Options of {@link ImageSessions}: how images are opened (credentials, mirrors, cache …). */
export interface SessionOptions {
  /** Options every image is opened with (the command line's REF options). */
  image: ImageOptions;
  /** The one local image file the page may open (the command line's REF, when it is a path). */
  localFile?: string;
}

interface Entry {
  key: string;
  opening: Promise<ImageViews>;
  openedAt: number;
  holders: number;
  lastUse: number;
  closed: boolean;
}

/** A held image: release it when the request is done. */
export interface Lease {
  views: ImageViews;
  release(): void;
}

/** A reference the page may not open. */
export class RefRefusedError extends InvalidReferenceError {
  constructor(ref: string) {
    const reason = 'only image references can be opened from the page';
    super(ref.slice(0, 200), `${reason} (a local file only when given on the command line)`);
  }
}

/** The open images of one server. */
export class ImageSessions {
  /** Counters of everything the server fetched. */
  readonly stats: IoStats;
  private readonly client: RegistryClient;
  private cache: Promise<BlobCache | MemoryBlobCache> | undefined;
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: SessionOptions) {
    this.stats = options.image.stats ?? new IoStats();
    this.client = new RegistryClient({ ...options.image.registry, stats: this.stats });
  }

  private openCache(): Promise<BlobCache | MemoryBlobCache> {
    const o = this.options.image;
    if (o.cache) return Promise.resolve(o.cache);
    this.cache ??= (async () => {
      const common = { stats: this.stats, ...(o.chunkSize !== undefined ? { chunkSize: o.chunkSize } : {}) };
      if (o.noCache) return new MemoryBlobCache(common);
      return BlobCache.open(o.cacheDir ?? defaultCacheDir(), {
        ...common,
        ...(o.cacheMaxSize !== undefined ? { maxSize: o.cacheMaxSize } : {}),
      });
    })();
    return this.cache;
  }

  /** The blob cache every image reads through. */
  blobCache(): Promise<BlobCache | MemoryBlobCache> {
    return this.openCache();
  }

  /** Checks that the page may open `ref` and parses it (throws a 400-class error otherwise). */
  checkRef(ref: string): void {
    if (isLocalImagePath(ref)) {
      if (ref !== this.options.localFile) throw new RefRefusedError(ref);
      return;
    }
    parseReference(ref);
  }

  /** Opens (or reuses) an image; the caller must `release()` the lease. */
  async acquire(ref: string, platform?: string): Promise<Lease> {
    this.checkRef(ref);
    const key = `${ref}\n${platform ?? ''}`;
    let e = this.entries.get(key);
    if (e && this.stale(e, ref)) {
      this.entries.delete(key);
      this.closeWhenFree(e);
      e = undefined;
    }
    if (!e) {
      const entry: Entry = {
        key,
        opening: this.open(ref, platform),
        openedAt: Date.now(),
        holders: 0,
        lastUse: Date.now(),
        closed: false,
      };
      entry.opening.catch(() => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      });
      this.entries.set(key, entry);
      e = entry;
    }
    const held = e;
    held.holders++;
    held.lastUse = Date.now();
    let views: ImageViews;
    try {
      views = await held.opening;
    } catch (err) {
      held.holders--;
      throw err;
    }
    this.trim();
    let released = false;
    return {
      views,
      release: () => {
        if (released) return;
        released = true;
        held.holders--;
        held.lastUse = Date.now();
        if (!this.entries.has(held.key) || this.entries.get(held.key) !== held) this.closeWhenFree(held);
        else this.trim();
      },
    };
  }

  /** One page of a repository's tags, through the shared client. */
  tags(ref: ImageReference, options: ListTagsOptions): Promise<TagsPage> {
    return this.client.tags(ref, options);
  }

  /** The size of an open image (manifest, config, layers), or undefined when it is not open. */
  async openImageSize(ref: string): Promise<number | undefined> {
    for (const e of this.entries.values()) {
      if (e.key.split('\n')[0] !== ref) continue;
      const v = await e.opening.catch(() => undefined);
      if (!v) continue;
      const r = v.image.resolved;
      return (
        v.image.layers.reduce((n, l) => n + l.size, 0) + (r ? r.manifestBytes.byteLength + r.configDescriptor.size : 0)
      );
    }
    return undefined;
  }

  private stale(e: Entry, ref: string): boolean {
    if (isLocalImagePath(ref) || Date.now() - e.openedAt < TAG_TTL_MS) return false;
    return parseReference(ref).digest === undefined;
  }

  private async open(ref: string, platform: string | undefined): Promise<ImageViews> {
    const cache = await this.openCache();
    const image = await openImage(ref, {
      ...this.options.image,
      client: this.client,
      cache,
      stats: this.stats,
      config: true,
      ...(platform ? { platform } : {}),
      signal: undefined,
    });
    try {
      return await ImageViews.of(image);
    } catch (err) {
      await image.close();
      throw err;
    }
  }

  /** Closes the least recently used images beyond the limit that no request holds. */
  private trim(): void {
    if (this.entries.size <= MAX_OPEN_IMAGES) return;
    const idle = [...this.entries.values()].filter((e) => e.holders === 0).sort((a, b) => a.lastUse - b.lastUse);
    for (const e of idle.slice(0, this.entries.size - MAX_OPEN_IMAGES)) {
      this.entries.delete(e.key);
      this.closeWhenFree(e);
    }
  }

  private closeWhenFree(e: Entry): void {
    if (e.holders > 0 || e.closed) return;
    e.closed = true;
    void e.opening.then(
      async (v) => {
        await v.close();
        await v.image.close();
      },
      () => {},
    );
  }

  /** Closes every image, the cache and the client. */
  async close(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    for (const e of all) {
      const v = await e.opening.catch(() => undefined);
      if (!v) continue;
      await v.close().catch(() => {});
      await v.image.close().catch(() => {});
    }
    if (this.cache) await (await this.cache.catch(() => undefined))?.close();
    await this.client.close();
  }
}
