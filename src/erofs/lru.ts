/**
 * A small cache bounded by a total cost (bytes, or 1 per entry), for the reader's
 * metadata-page, inode and decoded-cluster caches. Values are usually promises so that
 * concurrent readers of the same key share one read (single flight).
 *
 * It approximates LRU with two generations: new and recently used entries go to the young
 * map; when it holds half the budget it becomes the old map and the previous old map is
 * dropped, so entries survive as long as they are used. Every operation is O(1): no list to
 * maintain and no scan over a Map's deleted slots (which a delete-and-reinsert LRU over one
 * Map pays for when it evicts from the front).
 *
 * @packageDocumentation
 */

interface Entry<V> {
  value: V;
  cost: number;
}

/** A cost-bounded, approximately least-recently-used map. */
export class LruCache<K, V> {
  private young = new Map<K, Entry<V>>();
  private old = new Map<K, Entry<V>>();
  private youngCost = 0;
  private oldCost = 0;
  private readonly half: number;

  constructor(private readonly budget: number) {
    this.half = Math.max(1, budget / 2);
  }

  /** The value for `key`, marking it recently used. */
  get(key: K): V | undefined {
    const y = this.young.get(key);
    if (y !== undefined) return y.value;
    const o = this.old.get(key);
    if (o === undefined) return undefined;
    this.old.delete(key);
    this.oldCost -= o.cost;
    this.addYoung(key, o);
    return o.value;
  }

  /** True when `key` is cached (without marking it used). */
  has(key: K): boolean {
    return this.young.has(key) || this.old.has(key);
  }

  /** Stores `value` with `cost`; an entry costlier than the whole budget is not kept. */
  set(key: K, value: V, cost = 1): void {
    this.delete(key);
    if (cost > this.budget) return;
    this.addYoung(key, { value, cost });
  }

  private addYoung(key: K, e: Entry<V>): void {
    this.young.set(key, e);
    this.youngCost += e.cost;
    if (this.youngCost >= this.half) {
      this.old = this.young;
      this.oldCost = this.youngCost;
      this.young = new Map();
      this.youngCost = 0;
    }
  }

  /** Removes `key` (used when a cached read failed, so the next caller retries). */
  delete(key: K): void {
    const y = this.young.get(key);
    if (y !== undefined) {
      this.young.delete(key);
      this.youngCost -= y.cost;
    }
    const o = this.old.get(key);
    if (o !== undefined) {
      this.old.delete(key);
      this.oldCost -= o.cost;
    }
  }

  /** Drops everything. */
  clear(): void {
    this.young.clear();
    this.old.clear();
    this.youngCost = 0;
    this.oldCost = 0;
  }

  /** Number of entries. */
  get size(): number {
    return this.young.size + this.old.size;
  }
}
