/**
 * The one least-recently-used cache of ocifs: isaacs' `lru-cache`, behind every bounded
 * in-memory cache here (decoded tar segments, EROFS metadata pages, inodes and clusters, the
 * mount's caches). Its `fetchMethod` gives concurrent misses of one key a single load. This
 * module only fixes how a byte budget maps onto it.
 *
 * @packageDocumentation
 */
import { LRUCache } from 'lru-cache';

export { LRUCache };

/** Any value but null and undefined: `lru-cache`'s bound on its keys and values. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- that bound, as lru-cache spells it
export type NonNullish = {};

/** Options of {@link byteLru}: those of `lru-cache` except the bounds, which {@link byteLru} sets. */
export type ByteLruOptions<K extends NonNullish, V extends NonNullish, FC> = Omit<
  LRUCache.Options<K, V, FC>,
  'max' | 'maxSize' | 'maxEntrySize' | 'sizeCalculation'
>;

/**
 * An LRU holding at most `budget` bytes (a budget of 0 counts as 1). With `sizeOf`, each value
 * costs `sizeOf(value)` clamped to 1..budget: a value larger than the whole budget is kept
 * alone, until the next one comes, rather than not at all, so a segment bigger than the cache
 * is still decoded once for a run of reads of it rather than once per read. Without it, every
 * `set` names its `size`, and a value larger than the budget is not kept.
 */
export function byteLru<K extends NonNullish, V extends NonNullish, FC = unknown>(
  budget: number,
  sizeOf?: (value: V, key: K) => number,
  options: ByteLruOptions<K, V, FC> = {},
): LRUCache<K, V, FC> {
  const maxSize = Math.max(1, budget);
  const sizeCalculation = sizeOf && ((v: V, k: K) => costWithin(maxSize, sizeOf(v, k)));
  return new LRUCache<K, V, FC>({ ...options, maxSize, ...(sizeCalculation ? { sizeCalculation } : {}) });
}

/** What an entry of `size` bytes costs in an LRU of `maxSize`: see {@link byteLru}. */
export function costWithin(maxSize: number, size: number): number {
  return Math.min(maxSize, Math.max(1, Math.ceil(size)));
}
