/**
 * {@link BlobCache}: the persistent, verified, on-disk blob cache (see the module README text in
 * `src/cache/README.md` for the layout and its guarantees).
 *
 * @packageDocumentation
 */
import { debuglog } from '../io/debug-log.js';
import { InvalidOptionError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { CachedSource } from './cached-source.js';
import { parseDigest, type Digest } from '../ref/digest.js';
import { DiskStore, type DiskStoreParams } from './disk-store.js';
import { openDiskStore, probeInstance, readOriginName, reconcileOrigins } from './disk-open.js';
import { evictDir, sweepLeftovers } from './evict.js';
import { CacheLayout, LEGACY_DIRS } from './layout.js';
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
import { cachedDigests, scanCache, scanDigest, type ScanEntry } from './scan.js';
import { prepareCacheDir } from './secure-dir.js';
import { checkSidecarName, checkSidecars, type SidecarCheck } from './sidecar.js';
import { rmdir } from 'node:fs/promises';
import { join } from 'node:path';

const debug = debuglog('ocifs:cache');

/** One blob instance in {@link BlobCache.list}. */
export interface CacheEntry {
  digest: string;
  /**
   * Null for the verified instance (shared by every origin); for an unverified one, the origin
   * it was fetched through (registry or mirror chain), the only one it is served to.
   */
  origin: string | null;
  /** Blob size, or null when the instance is corrupt. */
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
  /** Disk space of its sidecars (data derived from this instance's bytes). */
  sidecarBytes: number;
  /** Names of its sidecars. */
  sidecars: string[];
  /** Set when the instance fails its consistency checks (it will be replaced on next use). */
  corrupt?: string;
}

/** One blob instance in {@link BlobCache.verify}'s report. */
export interface VerifyResult {
  digest: string;
  /** As in {@link CacheEntry.origin}: null for the verified instance (also one verified now). */
  origin: string | null;
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
  /**
   * Its sidecars, checked (intact and bound to this instance's bytes; bad ones deleted). Those
   * of a `partial` instance are derived from unverified bytes: served only through its origin.
   */
  sidecars: SidecarCheck;
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
  digest: string;
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
    // Sidecars of older versions were keyed by digest alone, whatever bytes they came from.
    for (const legacy of LEGACY_DIRS)
      await evictDir(join(real, legacy), layout.trash).catch((err: unknown) => debug('evict %s: %s', legacy, err));
    await sweepLeftovers(layout.trash, layout.tmp);
    const cache = new BlobCache(real, layout, chunkSize, maxSize, sourceOptions);
    if (maxSize !== undefined) await cache.gc({ maxSize });
    return cache;
  }

  /**
   * A byte source for blob `digest` of `size` bytes that serves cached chunks from disk and
   * fetches missing ones from `upstream`. Until the blob is verified, only chunks fetched
   * through the same `options.origin` are served (see {@link BlobSourceOptions.origin}).
   * Opening a digest that is already open in this cache through the same origin returns the
   * same source (one more handle; each handle is closed once) and ignores the new `upstream`
   * and `options`.
   */
  async openBlob(
    digest: string,
    size: number,
    upstream: ByteSource,
    options: BlobSourceOptions = {},
  ): Promise<CachedSource> {
    const d = parseDigest(digest);
    checkBlobSize(size, upstream);
    const resolved = resolveSourceOptions(options, this.sourceOptions);
    const key = `${resolved.origin}\n${d.value}`;
    for (;;) {
      const open = this.sources.get(key);
      if (!open) break;
      if (open.size !== size) {
        throw new InvalidOptionError('size', `blob ${d.value} is open with size ${open.size}, not ${size}`);
      }
      try {
        await open.ready;
        return open.source.retain();
      } catch {
        // its open failed; fall through and try ourselves
        if (this.sources.get(key) === open) this.sources.delete(key);
      }
    }
    const source: CachedSource = new CachedSource({
      digest: d,
      size,
      upstream,
      options: resolved,
      chunkSize: chunkSizeFor(size, this.chunkSize),
      openStore: (chunkSize, adopt) => openDiskStore(this.storeParams(d, size, chunkSize, adopt, resolved)),
      onClose: () => {
        if (this.sources.get(key)?.source === source) this.sources.delete(key);
      },
      onComplete: () => this.scheduleAutoGc(),
      onVerified: async (store) => {
        // Always a disk store here (openStore above opens only those).
        if (store instanceof DiskStore)
          await reconcileOrigins(this.storeParams(d, size, store.chunkSize, true, resolved), store);
        // This process's sources of other origins read the verified blob from now on.
        for (const [k, e] of this.sources) if (e.digest === d.value && k !== key) e.source.resetStore();
      },
    });
    const ready = source.open();
    const entry: OpenEntry = { source, ready, size, digest: d.value };
    this.sources.set(key, entry);
    try {
      await ready;
    } catch (err) {
      if (this.sources.get(key) === entry) this.sources.delete(key);
      await source.close().catch(() => {});
      throw err;
    }
    return source;
  }

  private storeParams(
    d: Digest,
    size: number | undefined,
    chunkSize: number,
    adopt: boolean,
    o: ResolvedSourceOptions,
  ): DiskStoreParams {
    return {
      layout: this.layout,
      digest: d,
      origin: o.origin,
      size,
      chunkSize,
      adoptChunkSize: adopt,
      claimStaleMs: o.claimStaleMs,
      verify: o.verify,
      onOriginMismatch: (origin, chunks) => {
        const what = '%s: %d chunks fetched through %s differ from the verified blob (that origin sent wrong bytes)';
        debug(what, d.value, chunks, JSON.stringify(origin));
        if (o.stats) o.stats.originMismatches++;
      },
    };
  }

  /** The cache directory, or the data file of `digest`'s verified instance (there only when `list` says so). */
  path(digest?: string): string {
    if (digest === undefined) return this.dir;
    return this.layout.dataPath(parseDigest(digest));
  }

  /** Runs `body` on the verified instance of `digest`; undefined when there is none. */
  private async withVerified<T>(digest: string, body: (store: DiskStore) => Promise<T>): Promise<T | undefined> {
    const d = parseDigest(digest);
    const probe = await probeInstance(
      this.storeParams(d, undefined, this.chunkSize, true, this.sourceOptions),
      this.layout.blobDir(d),
      'verified',
    );
    if (probe.kind !== 'ok') return undefined;
    try {
      return probe.store.verified ? await body(probe.store) : undefined;
    } finally {
      await probe.store.close();
    }
  }

  /**
   * Stores a sidecar with the verified instance of `digest` (replacing one of the same name):
   * data derived from the verified bytes. False (nothing stored) when the blob is not verified
   * in the cache: data derived from unverified bytes goes through `CachedSource.putSidecar`.
   */
  async putSidecar(digest: string, name: string, bytes: Uint8Array): Promise<boolean> {
    checkSidecarName(name);
    return (await this.withVerified(digest, (s) => s.putSidecar(name, bytes))) ?? false;
  }

  /** A sidecar of the verified instance of `digest`, or undefined (none, or corrupt: then deleted). */
  async getSidecar(digest: string, name: string): Promise<Uint8Array | undefined> {
    checkSidecarName(name);
    return this.withVerified(digest, (s) => s.getSidecar(name));
  }

  /** Every cached blob instance, least recently used first. Reads maps; changes nothing. */
  async list(): Promise<CacheEntry[]> {
    const out: CacheEntry[] = [];
    for (const e of await scanCache(this.layout)) out.push(await this.describe(e));
    return out.sort((a, b) => a.lastAccess.getTime() - b.lastAccess.getTime());
  }

  private async describe(e: ScanEntry): Promise<CacheEntry> {
    const entry: CacheEntry = {
      digest: e.digest.value,
      origin: e.place === 'verified' ? null : ((await readOriginName(e.dir)) ?? ''),
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
    const probe = await probeInstance(
      this.storeParams(e.digest, undefined, this.chunkSize, true, { ...this.sourceOptions, verify: true }),
      e.dir,
      e.place,
    );
    if (probe.kind === 'corrupt') entry.corrupt = probe.reason;
    if (probe.kind !== 'ok') return entry;
    const s = probe.store;
    try {
      entry.size = s.size;
      entry.chunkSize = s.chunkSize;
      entry.presentBytes = s.presentBytes;
      entry.complete = s.presentCount === s.chunkCount;
      entry.verified = s.verified;
    } finally {
      await s.close();
    }
    return entry;
  }

  /**
   * Re-checks cached blob instances (all, or one digest's): complete ones are hashed again and
   * discarded on a mismatch (an unverified one that matches is verified now, and shared by
   * every origin from then on); partial ones have their header and map checked. Corrupt ones
   * are discarded. Every instance's sidecars are checked too (bad ones deleted).
   */
  async verify(digest?: string): Promise<VerifyResult[]> {
    const d = digest === undefined ? undefined : parseDigest(digest);
    const instances = d ? await scanDigest(this.layout, d) : await scanCache(this.layout);
    if (d && instances.length === 0) {
      return [
        { digest: d.value, origin: null, status: 'missing', discarded: false, sidecars: { kept: [], discarded: [] } },
      ];
    }
    const out: VerifyResult[] = [];
    for (const e of instances) out.push(await this.verifyOne(e));
    return out;
  }

  private async verifyOne(e: ScanEntry): Promise<VerifyResult> {
    const d = e.digest;
    const origin = e.place === 'verified' ? null : ((await readOriginName(e.dir)) ?? '');
    const none: SidecarCheck = { kept: [], discarded: [] };
    const result = (status: VerifyResult['status'], more: Partial<VerifyResult> = {}): VerifyResult => ({
      digest: d.value,
      origin,
      status,
      discarded: false,
      sidecars: none,
      ...more,
    });
    const params = this.storeParams(d, undefined, this.chunkSize, true, {
      ...this.sourceOptions,
      verify: true,
      origin: origin ?? '',
    });
    const probe = await probeInstance(params, e.dir, e.place);
    if (probe.kind === 'missing') return result('missing');
    if (probe.kind !== 'ok') {
      const reason = probe.kind === 'corrupt' ? probe.reason : 'instance changed while checking';
      if (probe.kind === 'corrupt') {
        await evictDir(e.dir, this.layout.trash, probe.ino);
        this.detach(d.value);
      }
      return result('corrupt', { detail: reason, discarded: probe.kind === 'corrupt' });
    }
    const store = probe.store;
    const sidecars = () => checkSidecars({ dir: store.path, instanceId: store.instanceId, digest: d });
    try {
      if (store.presentCount < store.chunkCount) return result('partial', { sidecars: await sidecars() });
      // In this thread: there is nothing else to do meanwhile, and no worker to depend on.
      const h = new PrefixHasher(store, d, true);
      await h.advance();
      if (!h.done) return result('partial', { sidecars: await sidecars() });
      const hex = await h.digestHex();
      if (hex !== d.hex) {
        // Its sidecars were derived from these bytes: they go with them.
        await store.discard('digest mismatch (verify)');
        this.detach(d.value);
        return result('mismatch', { detail: `content hashes to ${d.algorithm}:${hex}`, discarded: true });
      }
      await store.setComplete(true);
      if (e.place === 'partial' && (await store.promote())) await reconcileOrigins(params, store);
      return {
        ...result('verified', { sidecars: await sidecars() }),
        origin: store.place === 'verified' ? null : origin,
      };
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
    const evicted = new Set<string>();
    for (const e of entries) {
      if (usage <= maxSize) break;
      if (keep.has(e.digest.value)) continue;
      await evictDir(e.dir, this.layout.trash);
      // A digest's partial/ directory goes with its last origin's instance.
      if (e.place === 'partial') await rmdir(this.layout.partialRoot(e.digest)).catch(() => {});
      this.detach(e.digest.value);
      usage -= e.blobBytes + e.sidecarBytes;
      evicted.add(e.digest.value);
    }
    if (evicted.size) debug('gc: evicted %d blobs, %d -> %d bytes', evicted.size, before, usage);
    return { before, after: usage, evicted: [...evicted] };
  }

  private async evict(d: Digest): Promise<boolean> {
    const a = await evictDir(this.layout.blobDir(d), this.layout.trash);
    const b = await evictDir(this.layout.partialRoot(d), this.layout.trash);
    this.detach(d.value);
    return a || b;
  }

  /** Removes every instance of one blob (with their sidecars); false when nothing was cached. */
  async remove(digest: string): Promise<boolean> {
    return this.evict(parseDigest(digest));
  }

  /** Removes every blob instance and sidecar; returns how many digests were removed. */
  async removeAll(): Promise<number> {
    let n = 0;
    for (const d of await cachedDigests(this.layout)) if (await this.evict(d)) n++;
    return n;
  }

  /** Describes one digest: its verified instance, else one origin's (undefined when nothing is cached). */
  async stat(digest: string): Promise<CacheEntry | undefined> {
    const [e] = await scanDigest(this.layout, parseDigest(digest));
    return e ? this.describe(e) : undefined;
  }

  /** Open sources of an evicted blob drop their files at once instead of on their next check. */
  private detach(digest: string): void {
    for (const e of this.sources.values()) if (e.digest === digest) e.source.resetStore();
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
        await this.collect(max, new Set([...this.sources.values()].map((e) => e.digest))).catch((err: unknown) =>
          debug('auto gc: %s', (err as Error).message),
        );
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
  if (!Number.isSafeInteger(size) || size < 0)
    throw new InvalidOptionError('size', `must be a non-negative integer, got ${String(size)}`);
  if (upstream.size !== size)
    throw new InvalidOptionError('size', `blob size ${size} differs from the upstream's size ${upstream.size}`);
}
