/**
 * {@link StoreSlot}: the chunk store a cached source reads now, and its replacement when the
 * instance behind it goes away (evicted, discarded, found corrupt, promoted by another origin)
 * or cannot be created (no space: a memory store without room serves uncached for a while).
 *
 * @packageDocumentation
 */
import { debuglog } from '../io/debug-log.js';
import { CacheClosedError, CacheCorruptError } from './errors.js';
import type { DerivedMark } from './derived-mark.js';
import { isNoSpace } from './fs-util.js';
import { MemoryPool, MemoryStore } from './memory-store.js';
import type { ChunkStore } from './store.js';

const debug = debuglog('ocifs:cache');

/** How often (at most) a source checks that its on-disk instance was not evicted meanwhile. */
const CURRENT_CHECK_MS = 1000;
/** How often (at most) a write re-reads other processes' marks of the whole map. */
const FULL_REFRESH_MS = 500;
/** After failing to create an instance for lack of space, retry this much later. */
const NO_SPACE_RETRY_MS = 10_000;

/** Opens the store of a blob: `chunkSize` is required when `adopt` is false. */
export type StoreOpener = (chunkSize: number, adopt: boolean) => Promise<ChunkStore>;

/** What a {@link StoreSlot} needs. */
export interface StoreSlotInit {
  digest: string;
  size: number;
  /** Chunk size for a new store (the first store opened may adopt its instance's own). */
  chunkSize: number;
  openStore: StoreOpener;
  /** Moves when the store is replaced or dropped. */
  mark: DerivedMark;
  /** Called when the current store is dropped (state kept for it goes too). */
  onDetach: () => void;
}

/** The current store of one cached source. */
export class StoreSlot {
  private store: ChunkStore | null = null;
  private opening: Promise<ChunkStore> | null = null;
  private fallbackUntil = 0;
  private chunkSizeValue: number;
  private chunkSizeFixed = false;
  private lastCurrentCheck = 0;
  private lastFullRefresh = 0;
  private closedFlag = false;
  private completeAtClose = false;

  constructor(private readonly init: StoreSlotInit) {
    this.chunkSizeValue = init.chunkSize;
  }

  /** Bytes per chunk: the first store's, once one was opened. */
  get chunkSize(): number {
    return this.chunkSizeValue;
  }

  /** True once {@link close} was called: the source is closed, nothing more is fetched or served. */
  get closed(): boolean {
    return this.closedFlag;
  }

  /** The store in use, if one is open (see {@link get}). */
  get current(): ChunkStore | null {
    return this.store;
  }

  /** True once every chunk is present (and verified, when verification is on), as the store in use says. */
  get complete(): boolean {
    return this.store?.complete ?? this.completeAtClose;
  }

  /** The store to use now, opened (or reopened after a drop, or retried after a full disk) when needed. */
  async get(): Promise<ChunkStore> {
    if (this.store && !(this.fallbackUntil > 0 && Date.now() > this.fallbackUntil)) return this.store;
    this.opening ??= this.open().finally(() => (this.opening = null));
    return this.opening;
  }

  private async open(): Promise<ChunkStore> {
    if (this.closedFlag) throw new CacheClosedError(`cached blob ${this.init.digest}`);
    let store: ChunkStore;
    try {
      store = await this.init.openStore(this.chunkSizeValue, !this.chunkSizeFixed);
      this.fallbackUntil = 0;
    } catch (err) {
      if (!isNoSpace(err)) throw err;
      debug('%s: no space for a cache instance; serving uncached for now', this.init.digest);
      if (this.store && this.fallbackUntil > 0) {
        this.fallbackUntil = Date.now() + NO_SPACE_RETRY_MS;
        return this.store;
      }
      store = new MemoryStore(new MemoryPool(0), this.init.size, this.chunkSizeValue);
      this.fallbackUntil = Date.now() + NO_SPACE_RETRY_MS;
    }
    if (!this.chunkSizeFixed) {
      this.chunkSizeValue = store.chunkSize;
      this.chunkSizeFixed = true;
    }
    const old = this.store;
    this.store = store;
    if (old && old !== store) {
      old.retire();
      this.init.mark.invalidate();
    }
    return store;
  }

  /** Stops using `store` (evicted, discarded, corrupt); the next {@link get} opens a fresh one. */
  reset(store: ChunkStore | null = this.store): void {
    if (!store) return;
    if (this.store === store) {
      this.store = null;
      this.init.mark.invalidate();
      this.init.onDetach();
    }
    store.retire();
  }

  /** Re-reads other processes' marks of chunks `[c0, c1)`; a damaged map discards the instance. */
  async refresh(store: ChunkStore, c0: number, c1: number): Promise<void> {
    try {
      await store.refresh(c0, c1);
    } catch (err) {
      if (!(err instanceof CacheCorruptError)) throw err;
      debug('%s: %s; discarding the instance', this.init.digest, err.message);
      await store.discard(err.message);
      this.reset(store);
    }
  }

  /** Re-reads the whole map of an incomplete store, at most every {@link FULL_REFRESH_MS}. */
  async refreshSometimes(store: ChunkStore): Promise<void> {
    if (store.presentCount < store.chunkCount && Date.now() - this.lastFullRefresh > FULL_REFRESH_MS) {
      this.lastFullRefresh = Date.now();
      await this.refresh(store, 0, store.chunkCount);
    }
  }

  /**
   * False, after dropping it, when the on-disk `store` was evicted or replaced (checked at most
   * every {@link CURRENT_CHECK_MS}); true otherwise.
   */
  async stillCurrent(store: ChunkStore): Promise<boolean> {
    if (store.kind !== 'disk' || Date.now() - this.lastCurrentCheck <= CURRENT_CHECK_MS) return true;
    this.lastCurrentCheck = Date.now();
    if (await store.isCurrent()) return true;
    debug('%s: instance was evicted or replaced; reattaching', this.init.digest);
    this.reset(store);
    return false;
  }

  /** Closed at once (see {@link closed}); then closes the current store (after writes under way). */
  async close(): Promise<void> {
    this.closedFlag = true;
    const store = this.store ?? (await this.opening?.catch(() => null)) ?? null;
    this.completeAtClose = store?.complete ?? false;
    this.store = null;
    await store?.close();
  }
}
