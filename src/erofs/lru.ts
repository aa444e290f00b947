/**
 * A small least-recently-used map bounded by a total cost (bytes, or 1 per entry), for the
 * reader's metadata-page, inode and decoded-cluster caches. Values are usually promises so
 * that concurrent readers of the same key share one read (single flight).
 *
 * @packageDocumentation
 */

/** A cost-bounded LRU map. `get` refreshes an entry; `set` evicts the oldest entries over budget. */
export class LruCache<K, V> {
  private readonly map = new Map<K, { value: V; cost: number; stamp: number }>();
  private total = 0;
  private tick = 0;

  constructor(private readonly budget: number) {}

  /**
   * The value for `key`, marking it recently used. An entry used within the last size/2
   * operations is not moved again (approximate LRU: hot entries cost one Map lookup).
   */
  get(key: K): V | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    if (this.tick - e.stamp > this.map.size >> 1) {
      this.map.delete(key);
      this.map.set(key, e);
      e.stamp = ++this.tick;
    }
    return e.value;
  }

  /** Stores `value` with `cost`; an entry costlier than the whole budget is not kept. */
  set(key: K, value: V, cost = 1): void {
    const old = this.map.get(key);
    if (old !== undefined) {
      this.total -= old.cost;
      this.map.delete(key);
    }
    if (cost > this.budget) return;
    this.map.set(key, { value, cost, stamp: ++this.tick });
    this.total += cost;
    if (this.total > this.budget) {
      for (const [k, e] of this.map) {
        if (this.total <= this.budget) break;
        this.map.delete(k);
        this.total -= e.cost;
      }
    }
  }

  /** Changes the cost of an entry already present (e.g. once a promise resolved to its size). */
  resize(key: K, cost: number): void {
    const e = this.map.get(key);
    if (e === undefined) return;
    this.total += cost - e.cost;
    e.cost = cost;
    if (cost > this.budget) {
      this.map.delete(key);
      this.total -= cost;
    } else if (this.total > this.budget) {
      for (const [k, v] of this.map) {
        if (this.total <= this.budget) break;
        if (k === key) continue;
        this.map.delete(k);
        this.total -= v.cost;
      }
    }
  }

  /** Removes `key` (used when a cached read failed, so the next caller retries). */
  delete(key: K): void {
    const e = this.map.get(key);
    if (e === undefined) return;
    this.map.delete(key);
    this.total -= e.cost;
  }

  /** Drops everything. */
  clear(): void {
    this.map.clear();
    this.total = 0;
  }

  /** Number of entries. */
  get size(): number {
    return this.map.size;
  }
}
