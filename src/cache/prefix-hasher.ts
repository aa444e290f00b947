/**
 * Hashes a blob's bytes in order while they arrive, so verifying a completed blob costs almost
 * nothing at the end. Bytes this process fetched and wrote are hashed from memory as they are
 * written ({@link PrefixHasher.offer}; pieces that arrive ahead of the prefix wait in a bounded
 * buffer); everything else (chunks other processes wrote, pieces that did not fit) is read back
 * from the store ({@link PrefixHasher.advance}).
 *
 * Offered bytes are what is on disk: a process writes only chunks it holds the claim for and
 * never overwrites a chunk already present.
 *
 * @packageDocumentation
 */
import type { Digest } from '../ref/digest.js';
import { runEnd } from './chunk-runs.js';
import { newHashState, newLocalHashState, type HashState } from './hash-state.js';
import { StoreMissError, type ChunkStore } from './store.js';
import { joinParts, partsLength } from './streaming.js';

const PIECE = 4 * 1024 * 1024;
/** Most bytes of out-of-order pieces kept for the prefix to reach (per blob). */
const MAX_PENDING = 8 * 1024 * 1024;
/** Pieces starting further than this beyond the prefix are not kept (random access). */
const PENDING_WINDOW = 16 * 1024 * 1024;

/** Incremental hash over the readable prefix of one store. */
export class PrefixHasher {
  private readonly hash: HashState;
  private hashedBytes = 0;
  private running: Promise<void> | null = null;
  private again = false;
  private result: Promise<string> | undefined;
  private buf: Uint8Array | undefined;
  private readonly pending = new Map<number, Uint8Array>();
  private pendingBytes = 0;

  constructor(
    /** The store whose bytes are hashed. */
    readonly store: ChunkStore,
    digest: Digest,
    /** Hash in this thread (a re-check after the worker failed). */
    local = false,
  ) {
    this.hash = local ? newLocalHashState(digest.algorithm) : newHashState(digest.algorithm, store.size);
  }

  /** Bytes hashed so far (a prefix of the blob). */
  get hashed(): number {
    return this.hashedBytes;
  }

  /** True once every byte is hashed. */
  get done(): boolean {
    return this.hashedBytes === this.store.size;
  }

  /** Hex digest, once {@link done}. Rejects when the hash worker died (hash again locally). */
  digestHex(): Promise<string> {
    this.result ??= this.hash.digest();
    return this.result;
  }

  /** Stops hashing (the store is gone). */
  dispose(): void {
    this.hash.dispose();
    this.pending.clear();
    this.pendingBytes = 0;
  }

  /** Bytes at `offset` that were just written to the store by this process. */
  offer(offset: number, bytes: Uint8Array): void {
    if (this.done || this.result) return;
    if (this.take(offset, bytes)) this.drain();
    else if (
      offset > this.hashedBytes &&
      offset - this.hashedBytes <= PENDING_WINDOW &&
      this.pendingBytes + bytes.byteLength <= MAX_PENDING &&
      !this.pending.has(offset)
    ) {
      this.pending.set(offset, bytes);
      this.pendingBytes += bytes.byteLength;
    }
  }

  /**
   * Like {@link offer} for bytes given as consecutive parts (a streamed batch). Bytes that
   * continue the prefix are hashed without being joined, waiting for room in the hash worker's
   * ring if need be (cheaper than reading them back from the disk later). The parts are not
   * kept: the caller may reuse their memory once the promise settles.
   */
  async offerParts(offset: number, parts: readonly Uint8Array[]): Promise<void> {
    if (this.done || this.result) return;
    if (offset === this.hashedBytes) {
      const len = partsLength(parts);
      await this.hash.waitForRoom(len);
      if (offset === this.hashedBytes && !this.result && this.hash.updateParts(parts)) {
        this.hashedBytes = offset + len;
        this.drain();
        return;
      }
    }
    // Kept for later (ahead of the prefix): a copy, never the caller's memory.
    if (offset + partsLength(parts) > this.hashedBytes)
      this.offer(offset, parts.length === 1 ? parts[0].slice() : joinParts(parts));
  }

  /** Uses (or drops, when already passed) the pending pieces the prefix has reached. */
  private drain(): void {
    for (let progressed = true; progressed;) {
      progressed = false;
      for (const [off, b] of this.pending) {
        if (off > this.hashedBytes) continue;
        this.pending.delete(off);
        this.pendingBytes -= b.byteLength;
        if (this.take(off, b)) progressed = true;
      }
    }
  }

  /**
   * Hashes the part of `[offset, offset + bytes)` right after the prefix; false if it does not
   * touch it or the hash worker has no room now (then those bytes are read back later).
   */
  private take(offset: number, bytes: Uint8Array): boolean {
    const end = offset + bytes.byteLength;
    if (offset > this.hashedBytes || end <= this.hashedBytes) return false;
    if (!this.hash.update(bytes.subarray(this.hashedBytes - offset))) return false;
    this.hashedBytes = end;
    return true;
  }

  /** Hashes as far as the store's readable prefix goes (one loop at a time; a call during it asks for another pass). */
  advance(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.loop().finally(() => (this.running = null));
    return this.running;
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      await this.pass();
    } while (this.again && !this.done);
  }

  private async pass(): Promise<void> {
    const { store } = this;
    const cs = store.chunkSize;
    while (this.hashedBytes < store.size && !this.result) {
      this.drain();
      if (this.done) break;
      const start = this.hashedBytes;
      const c = Math.floor(start / cs);
      if (!store.has(c)) return;
      const limit = Math.min(store.size, start + PIECE);
      const end = Math.min(limit, runEnd(c, Math.ceil(limit / cs), (k) => store.has(k)) * cs);
      const len = end - start;
      // A fresh buffer per piece: the worker gets a copy anyway, the local hash uses it at once.
      this.buf ??= Buffer.allocUnsafe(PIECE);
      try {
        await store.read(start, len, this.buf, 0);
      } catch (err) {
        if (err instanceof StoreMissError) return;
        throw err;
      }
      // An offer may have moved the prefix while we read (or wait): then this read is stale.
      if (this.hashedBytes !== start) continue;
      await this.hash.waitForRoom(len);
      if (this.hashedBytes !== start || !this.hash.update(this.buf.subarray(0, len))) continue;
      this.hashedBytes = end;
    }
    this.buf = undefined;
  }
}
