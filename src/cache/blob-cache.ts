/**
 * {@link BlobCache}: the persistent, verified, on-disk blob cache (see the module README text in
 * `src/cache/README.md` for the layout and its guarantees).
 *
 * @packageDocumentation
 */
import { debuglog } from 'node:util';
import { InvalidOptionError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { CachedSource } from './cached-source.js';
import { parseDigest, type ParsedDigest } from './digest.js';
import { DiskStore, type DiskStoreParams } from './disk-store.js';
import { evictDir, sweepLeftovers } from './evict.js';
import { CacheLayout } from './layout.js';
import {
  checkChunkSize,
  checkSizeCap,
  chunkSizeFor,
  DEFAULT_CHUNK_SIZE,
  resolveSourceOptions,
  type BlobCacheOptions,
  type BlobSourceOptions,
  type ResolvedSourceOptions,
} from './options.js';
import { PrefixHasher } from './prefix-hasher.js';
import { scanCache, scanDigest, type ScanEntry } from './scan.js';
import { prepareCacheDir } from './secure-dir.js';
import { readSidecar, writeSidecar } from './sidecar.js';

const debug = debuglog('ocifs:cache');

/** One digest in {@link BlobCache.list}. */
export interface CacheEntry {
  digest: string;
  /** Blob size, or null when only sidecars are cached. */
  size: number | null;
  /** Chunk size of the instance (null without a blob). */
  chunkSize: number | null;
  /** Bytes of the blob present. */
  presentBytes: number;
  /** Every chunk is present. */
  complete: boolean;
  /** The complete blob was hashed and matched its digest. */
  verified: boolean;
  /** Last read (updated at most once a minute while in use). */
  lastAccess: Date;
  /** Disk space of the blob's files (allocated blocks). */
  diskBytes: number;
  /** Disk space of its sidecars. */
  sidecarBytes: number;
  /** Names of its sidecars. */
  sidecars: string[];
  /** Set when the instance fails its consistency checks (it will be replaced on next use). */
  corrupt?: string;
}

/** One blob in {@link BlobCache.verify}'s report. */
export interface VerifyResult {
  digest: string;
  /**
   * `verified`: complete and matches its digest. `partial`: not complete; header and map are
   * consistent. `mismatch`: complete but the bytes do not match (discarded). `corrupt`: failed
   * a consistency check (discarded). `missing`: no blob cached.
   */
  status: 'verified' | 'partial' | 'mismatch' | 'corrupt' | 'missing';
  /** Why, for `mismatch` and `corrupt`. */
  detail?: string;
  /** The blob's files were removed. */
  discarded: boolean;
}

/** Options of {@link BlobCache.gc}. */
export interface GcOptions {
  /** Evict least-recently-used blobs until the cache uses at most this many bytes of disk. */
  maxSize: number;
}

/** What {@link BlobCache.gc} did. */
export interface GcResult {
  /** Allocated bytes before. */
  before: number;
  /** Allocated bytes after. */
  after: number;
  /** Digests evicted, least recently used first. */
  evicted: string[];
}

interface OpenEntry {
  source: CachedSource;
  ready: Promise<void>;
  size: number;
}

/** The persistent blob cache in one directory. Open with {@link BlobCache.open}. */
export class BlobCache {
  private readonly sources = new Map<string, OpenEntry>();
  private autoGc: Promise<void> | null = null;
  private autoGcAgain = false;

  private constructor(
    /** The cache directory (real path). */
    readonly dir: string,
    private readonly layout: CacheLayout,
    /** Chunk size of new blobs. */
    readonly chunkSize: number,
    private readonly maxSize: number | undefined,
    private readonly sourceOptions: ResolvedSourceOptions,
  ) {}

  /**
   * Opens (creating it 0700 when missing) the cache in `dir`. Rejects with
   * `ERR_OCIFS_CACHE_INSECURE` when another user could write to it, and with
   * `ERR_OCIFS_INVALID_OPTION` for a bad option. Applies `maxSize` once.
   */
  static async open(dir: string, options: BlobCacheOptions = {}): Promise<BlobCache> {
    if (typeof dir !== 'string' || dir === '') throw new InvalidOptionError('dir', 'must be a non-empty path');
    const chunkSize = checkChunkSize('chunkSize', options.chunkSize ?? DEFAULT_CHUNK_SIZE);
    const maxSize = options.maxSize === undefined ? undefined : checkSizeCap('maxSize', options.maxSize);
    const sourceOptions = resolveSourceOptions(options);
    const real = await prepareCacheDir(dir);
    const layout = new CacheLayout(real);
    await sweepLeftovers(layout.trash, layout.tmp);
    const cache = new BlobCache(real, layout, chunkSize, maxSize, sourceOptions);
    if (maxSize !== undefined) await cache.gc({ maxSize });
    return cache;
  }

  /**
   * A byte source for blob `digest` of `size` bytes that serves cached chunks from disk and
   * fetches missing ones from `upstream`. Opening a digest that is already open in this cache
   * returns the same source (one more handle; each handle is closed once) and ignores the new
   * `upstream` and `options`.
   */
  async openBlob(digest: string, size: number, upstream: ByteSource, options: BlobSourceOptions = {}): Promise<CachedSource> {
    const d = parseDigest(digest);
    checkBlobSize(size, upstream);
    const resolved = resolveSourceOptions(options, this.sourceOptions);
    for (;;) {
      const open = this.sources.get(d.digest);
      if (!open) break;
      if (open.size !== size) throw new InvalidOptionError('size', `blob ${d.digest} is open with size ${open.size}, not ${size}`);
      try {
        await open.ready;
        return open.source.retain();
      } catch {
        // its open failed; fall through and try ourselves
        if (this.sources.get(d.digest) === open) this.sources.delete(d.digest);
      }
    }
    const source: CachedSource = new CachedSource({
      digest: d,
      size,
      upstream,
      options: resolved,
      chunkSize: chunkSizeFor(size, this.chunkSize),
      openStore: (chunkSize, adopt) => DiskStore.open(this.storeParams(d, size, chunkSize, adopt, resolved)),
      onClose: () => {
        if (this.sources.get(d.digest)?.source === source) this.sources.delete(d.digest);
      },
      onComplete: () => this.scheduleAutoGc(),
    });
    const ready = source.open();
    const entry: OpenEntry = { source, ready, size };
    this.sources.set(d.digest, entry);
    try {
      await ready;
    } catch (err) {
      if (this.sources.get(d.digest) === entry) this.sources.delete(d.digest);
      await source.close().catch(() => {});
      throw err;
    }
    return source;
  }

  private storeParams(d: ParsedDigest, size: number | undefined, chunkSize: number, adopt: boolean, o: ResolvedSourceOptions): DiskStoreParams {
    return { layout: this.layout, digest: d, size, chunkSize, adoptChunkSize: adopt, claimStaleMs: o.claimStaleMs, verify: o.verify };
  }

  /** The cache directory, or the data file of `digest` (complete only when `list` says so). */
  path(digest?: string): string {
    if (digest === undefined) return this.dir;
    return this.layout.dataPath(parseDigest(digest));
  }

  /** Stores a sidecar for `digest` atomically (replacing one of the same name). */
  async putSidecar(digest: string, name: string, bytes: Uint8Array): Promise<void> {
    await writeSidecar(this.layout, parseDigest(digest), name, bytes);
  }

  /** A sidecar of `digest`, or undefined when absent or corrupt (a corrupt one is deleted). */
  async getSidecar(digest: string, name: string): Promise<Uint8Array | undefined> {
    return readSidecar(this.layout, parseDigest(digest), name);
  }

  /** Every cached digest, least recently used first. Reads maps; changes nothing. */
  async list(): Promise<CacheEntry[]> {
    const out: CacheEntry[] = [];
    for (const e of await scanCache(this.layout)) out.push(await this.describe(e));
    return out.sort((a, b) => a.lastAccess.getTime() - b.lastAccess.getTime());
  }

  private async describe(e: ScanEntry): Promise<CacheEntry> {
    const entry: CacheEntry = {
      digest: e.digest.digest,
      size: null,
      chunkSize: null,
      presentBytes: 0,
      complete: false,
      verified: false,
      lastAccess: new Date(e.lastAccessMs),
      diskBytes: e.blobBytes,
      sidecarBytes: e.sidecarBytes,
      sidecars: e.sidecars,
    };
    if (!e.hasBlob) return entry;
    const probe = await DiskStore.probe(this.storeParams(e.digest, undefined, this.chunkSize, true, { ...this.sourceOptions, verify: true }));
    if (probe.kind === 'corrupt') entry.corrupt = probe.reason;
    if (probe.kind !== 'ok') return entry;
    const s = probe.store;
    try {
      entry.size = s.size;
      entry.chunkSize = s.chunkSize;
      entry.presentBytes = s.presentBytes;
      entry.complete = s.presentCount === s.chunkCount;
      entry.verified = s.complete;
    } finally {
      await s.close();
    }
    return entry;
  }

  /**
   * Re-checks cached blobs (all, or one): complete ones are hashed again and discarded on a
   * mismatch; partial ones have their header and map checked. Corrupt ones are discarded.
   */
  async verify(digest?: string): Promise<VerifyResult[]> {
    const digests = digest === undefined ? (await scanCache(this.layout)).filter((e) => e.hasBlob).map((e) => e.digest) : [parseDigest(digest)];
    const out: VerifyResult[] = [];
    for (const d of digests) out.push(await this.verifyOne(d));
    return out;
  }

  private async verifyOne(d: ParsedDigest): Promise<VerifyResult> {
    const params = this.storeParams(d, undefined, this.chunkSize, true, { ...this.sourceOptions, verify: true });
    const probe = await DiskStore.probe(params);
    if (probe.kind === 'missing') return { digest: d.digest, status: 'missing', discarded: false };
    if (probe.kind !== 'ok') {
      const reason = probe.kind === 'corrupt' ? probe.reason : 'instance changed while checking';
      if (probe.kind === 'corrupt') {
        await evictDir(this.layout.blobDir(d), this.layout.trash, probe.ino);
        this.detach(d.digest);
      }
      return { digest: d.digest, status: 'corrupt', detail: reason, discarded: probe.kind === 'corrupt' };
    }
    const store = probe.store;
    try {
      if (store.presentCount < store.chunkCount) return { digest: d.digest, status: 'partial', discarded: false };
      // In this thread: there is nothing else to do meanwhile, and no worker to depend on.
      const h = new PrefixHasher(store, d, true);
      await h.advance();
      if (!h.done) return { digest: d.digest, status: 'partial', discarded: false };
      const hex = await h.digestHex();
      if (hex !== d.hex) {
        await store.discard('digest mismatch (verify)');
        this.detach(d.digest);
        return { digest: d.digest, status: 'mismatch', detail: `content hashes to ${d.algorithm}:${hex}`, discarded: true };
      }
      await store.setComplete(true);
      return { digest: d.digest, status: 'verified', discarded: false };
    } finally {
      await store.close();
    }
  }

  /** Allocated bytes of all cached blobs and sidecars. */
  async usage(): Promise<number> {
    return (await scanCache(this.layout)).reduce((n, e) => n + e.blobBytes + e.sidecarBytes, 0);
  }

  /**
   * Evicts least-recently-used blobs (with their sidecars) until the cache uses at most
   * `maxSize` bytes of disk. Safe while readers run: a reader with the files open keeps
   * reading the evicted (consistent) files and reattaches to a new instance later.
   */
  async gc(options: GcOptions): Promise<GcResult> {
    return this.collect(checkSizeCap('maxSize', options.maxSize), new Set());
  }

  private async collect(maxSize: number, keep: Set<string>): Promise<GcResult> {
    const entries = (await scanCache(this.layout)).sort((a, b) => a.lastAccessMs - b.lastAccessMs);
    const before = entries.reduce((n, e) => n + e.blobBytes + e.sidecarBytes, 0);
    let usage = before;
    const evicted: string[] = [];
    for (const e of entries) {
      if (usage <= maxSize) break;
      if (keep.has(e.digest.digest)) continue;
      await this.evict(e.digest);
      usage -= e.blobBytes + e.sidecarBytes;
      evicted.push(e.digest.digest);
    }
    if (evicted.length) debug('gc: evicted %d blobs, %d -> %d bytes', evicted.length, before, usage);
    return { before, after: usage, evicted };
  }

  private async evict(d: ParsedDigest): Promise<boolean> {
    const a = await evictDir(this.layout.blobDir(d), this.layout.trash);
    const b = await evictDir(this.layout.sidecarDir(d), this.layout.trash);
    this.detach(d.digest);
    return a || b;
  }

  /** Removes one blob and its sidecars; false when nothing was cached. */
  async remove(digest: string): Promise<boolean> {
    return this.evict(parseDigest(digest));
  }

  /** Removes every blob and sidecar; returns how many digests were removed. */
  async removeAll(): Promise<number> {
    let n = 0;
    for (const e of await scanCache(this.layout)) if (await this.evict(e.digest)) n++;
    return n;
  }

  /** Describes one digest (undefined when nothing is cached for it). */
  async stat(digest: string): Promise<CacheEntry | undefined> {
    const e = await scanDigest(this.layout, parseDigest(digest));
    return e ? this.describe(e) : undefined;
  }

  /** Open sources of an evicted blob drop their files at once instead of on their next check. */
  private detach(digest: string): void {
    this.sources.get(digest)?.source.resetStore();
  }

  private scheduleAutoGc(): void {
    if (this.maxSize === undefined) return;
    if (this.autoGc) {
      this.autoGcAgain = true;
      return;
    }
    const max = this.maxSize;
    this.autoGc = (async () => {
      do {
        this.autoGcAgain = false;
        // Blobs open in this process are in use: never evict them automatically.
        await this.collect(max, new Set(this.sources.keys())).catch((err) => debug('auto gc: %s', (err as Error).message));
      } while (this.autoGcAgain);
    })().finally(() => (this.autoGc = null));
  }

  /** Closes every source still open from this cache. */
  async close(): Promise<void> {
    const all = [...this.sources.values()];
    this.sources.clear();
    await Promise.all(all.map((e) => e.source.destroy().catch(() => {})));
    await this.autoGc;
  }
}

/** Checks a blob size argument against its upstream. */
export function checkBlobSize(size: number, upstream: ByteSource): void {
  if (!Number.isSafeInteger(size) || size < 0) throw new InvalidOptionError('size', `must be a non-negative integer, got ${String(size)}`);
  if (upstream.size !== size) throw new InvalidOptionError('size', `blob size ${size} differs from the upstream's size ${upstream.size}`);
}
