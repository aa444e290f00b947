/**
 * A small least-recently-used map with a fixed number of entries, for the mount layer's
 * caches of resolved paths and extended attributes (the image is immutable, so entries never
 * go stale; the bound only caps memory).
 *
 * @packageDocumentation
 */
import { InvalidOptionError } from '../errors.js';

/** A `Map` that keeps at most `capacity` entries, dropping the least recently used. */
export class Lru<K, V> {
  private readonly map = new Map<K, V>();

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new InvalidOptionError('capacity', 'must be a positive integer');
  }

  /** The value for `key`, marking it most recently used. */
  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }

  /** Removes `key`. */
  delete(key: K): void {
    this.map.delete(key);
  }

  get size(): number {
    return this.map.size;
  }
}
