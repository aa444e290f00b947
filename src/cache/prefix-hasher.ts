/**
 * Hashes a blob's bytes in order while they arrive, so verifying a completed blob costs only the
 * tail that was not hashed yet. It reads back from the store (what is on disk is what gets
 * verified) and advances over the longest readable prefix.
 *
 * @packageDocumentation
 */
import type { Hash } from 'node:crypto';
import { newHash, type ParsedDigest } from './digest.js';
import { StoreMissError, type ChunkStore } from './store.js';

const PIECE = 4 * 1024 * 1024;

/** Incremental hash over the readable prefix of one store. */
export class PrefixHasher {
  private readonly hash: Hash;
  private hashedBytes = 0;
  private running: Promise<void> | null = null;
  private again = false;
  private result: string | undefined;
  private buf: Uint8Array | undefined;

  constructor(
    /** The store whose bytes are hashed. */
    readonly store: ChunkStore,
    digest: ParsedDigest,
  ) {
    this.hash = newHash(digest);
  }

  /** Bytes hashed so far (a prefix of the blob). */
  get hashed(): number {
    return this.hashedBytes;
  }

  /** True once every byte is hashed. */
  get done(): boolean {
    return this.hashedBytes === this.store.size;
  }

  /** Hex digest, once {@link done}. */
  digestHex(): string {
    this.result ??= this.hash.digest('hex');
    return this.result;
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
    while (this.hashedBytes < store.size) {
      let c = Math.floor(this.hashedBytes / cs);
      if (!store.has(c)) return;
      const limit = Math.min(store.size, this.hashedBytes + PIECE);
      let end = Math.min(limit, (c + 1) * cs);
      while (end < limit && store.has(++c)) end = Math.min(limit, (c + 1) * cs);
      const len = end - this.hashedBytes;
      this.buf ??= Buffer.allocUnsafe(PIECE);
      try {
        await store.read(this.hashedBytes, len, this.buf, 0);
      } catch (err) {
        if (err instanceof StoreMissError) return;
        throw err;
      }
      this.hash.update(this.buf.subarray(0, len));
      this.hashedBytes = end;
    }
    this.buf = undefined;
  }
}
