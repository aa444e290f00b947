/**
 * Chunk storage in memory, for `--no-cache`: a byte budget shared by every blob of one
 * {@link MemoryBlobCache}, least-recently-used chunks dropped first. Nothing is written to disk.
 *
 * @packageDocumentation
 */
import type { ClaimSet } from './claims.js';
import { StoreMissError, type ChunkStore, type WriteResult } from './store.js';
import { joinParts } from './streaming.js';

interface Entry {
  store: MemoryStore;
  chunk: number;
  bytes: Uint8Array;
}

/** The shared LRU byte budget. */
export class MemoryPool {
  /** Insertion order is recency order: the first entry is the least recently used. */
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private nextId = 0;
  /** Sidecars of the pool's stores (their own budget of `maxBytes`), oldest first. */
  private readonly sidecars = new Map<string, Uint8Array>();
  private sidecarBytes = 0;

  constructor(readonly maxBytes: number) {}

  /** Bytes held now. */
  get usedBytes(): number {
    return this.bytes;
  }

  /** A unique key prefix for a store. */
  newId(): number {
    return this.nextId++;
  }

  /** True when held (without making it recently used). */
  has(key: string): boolean {
    return this.entries.has(key);
  }

  get(key: string): Uint8Array | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.bytes;
  }

  put(key: string, e: Entry): void {
    if (e.bytes.byteLength > this.maxBytes) return;
    this.delete(key);
    this.entries.set(key, e);
    this.bytes += e.bytes.byteLength;
    e.store.presentCount++;
    for (const [k, old] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.delete(k, old);
    }
  }

  /** A sidecar kept by {@link putSidecar}, if still held. */
  getSidecar(key: string): Uint8Array | undefined {
    return this.sidecars.get(key);
  }

  /** Keeps a sidecar (dropped oldest-first beyond the budget); false when larger than the budget. */
  putSidecar(key: string, bytes: Uint8Array): boolean {
    this.dropSidecar(key);
    if (bytes.byteLength > this.maxBytes) return false;
    this.sidecars.set(key, Uint8Array.prototype.slice.call(bytes));
    this.sidecarBytes += bytes.byteLength;
    for (const k of this.sidecars.keys()) {
      if (this.sidecarBytes <= this.maxBytes) break;
      this.dropSidecar(k);
    }
    return true;
  }

  /** Drops one sidecar. */
  dropSidecar(key: string): void {
    const old = this.sidecars.get(key);
    if (!old) return;
    this.sidecars.delete(key);
    this.sidecarBytes -= old.byteLength;
  }

  delete(key: string, e = this.entries.get(key)): void {
    if (!e) return;
    this.entries.delete(key);
    this.bytes -= e.bytes.byteLength;
    e.store.presentCount--;
  }
}

/** One blob's chunks in a {@link MemoryPool}. */
export class MemoryStore implements ChunkStore {
  readonly kind = 'memory' as const;
  readonly chunkCount: number;
  readonly claims: ClaimSet | undefined = undefined;
  readonly complete = false;
  readonly noSpace = false;
  presentCount = 0;
  private readonly id: number;
  private closed = false;
  private readonly sidecarNames = new Set<string>();

  constructor(
    private readonly pool: MemoryPool,
    readonly size: number,
    readonly chunkSize: number,
  ) {
    this.chunkCount = Math.ceil(size / chunkSize);
    this.id = pool.newId();
  }

  private key(c: number): string {
    return `${this.id}:${c}`;
  }

  has(c: number): boolean {
    return !this.closed && this.pool.has(this.key(c));
  }

  async refresh(): Promise<void> {}

  async read(offset: number, length: number, buf: Uint8Array, bufOffset: number): Promise<void> {
    const cs = this.chunkSize;
    let pos = offset;
    const end = offset + length;
    while (pos < end) {
      const c = Math.floor(pos / cs);
      const bytes = this.closed ? undefined : this.pool.get(this.key(c));
      if (!bytes) throw new StoreMissError(c);
      const from = pos - c * cs;
      const n = Math.min(end - pos, bytes.byteLength - from);
      buf.set(bytes.subarray(from, from + n), bufOffset + (pos - offset));
      pos += n;
    }
  }

  async write(c0: number, data: Uint8Array | readonly Uint8Array[]): Promise<WriteResult | null> {
    if (this.closed || this.pool.maxBytes === 0) return null;
    const bytes = data instanceof Uint8Array ? data : joinParts(data);
    const cs = this.chunkSize;
    for (let i = 0; i * cs < bytes.byteLength; i++) {
      // Copy: the upstream's buffer may be a view into something much larger.
      const piece = Uint8Array.prototype.slice.call(bytes, i * cs, Math.min(bytes.byteLength, (i + 1) * cs));
      this.pool.put(this.key(c0 + i), { store: this, chunk: c0 + i, bytes: piece });
    }
    return { durable: Promise.resolve(true), all: true };
  }

  async flush(): Promise<void> {}
  async setComplete(): Promise<void> {}

  async getSidecar(name: string): Promise<Uint8Array | undefined> {
    return this.closed ? undefined : this.pool.getSidecar(`${this.id}/${name}`);
  }

  async putSidecar(name: string, bytes: Uint8Array): Promise<boolean> {
    if (this.closed || !this.pool.putSidecar(`${this.id}/${name}`, bytes)) return false;
    this.sidecarNames.add(name);
    return true;
  }

  async discard(): Promise<void> {
    for (let c = 0; c < this.chunkCount; c++) this.pool.delete(this.key(c));
    // Derived from these bytes: they go with them.
    for (const name of this.sidecarNames) this.pool.dropSidecar(`${this.id}/${name}`);
    this.sidecarNames.clear();
  }

  async isCurrent(): Promise<boolean> {
    return true;
  }

  touch(): void {}

  retire(): void {
    void this.close();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.discard();
    this.closed = true;
  }
}
