/**
 * {@link Verifier}: checks a cached blob against its digest. Bytes are hashed in order while
 * they arrive (a {@link PrefixHasher} per store); when every chunk is present the digest is
 * compared once ({@link Verifier.completeOnce}, shared by concurrent callers), the state is
 * recorded, and a verified on-disk instance is promoted to where every origin finds it. A
 * mismatch discards the instance, moves the derived-data mark, and makes every read that
 * overlapped it reject ({@link Verifier.throwIfMismatchSince}).
 *
 * In a memory store nothing is ever complete: a blob read from start to end is hashed on the
 * way and checked when the hash reaches the end ({@link Verifier.afterWrite}).
 *
 * @packageDocumentation
 */
import { debuglog } from '../io/debug-log.js';
import { DigestMismatchError } from '../errors.js';
import type { DerivedMark } from './derived-mark.js';
import type { Digest } from '../ref/digest.js';
import { DiskStore } from './disk-store.js';
import { PrefixHasher } from './prefix-hasher.js';
import type { StoreSlot } from './store-slot.js';
import type { ChunkStore } from './store.js';

const debug = debuglog('ocifs:cache');

/** What a {@link Verifier} needs. */
export interface VerifierInit {
  digest: Digest;
  /** Whether bytes are hashed and compared at all (when not, a complete blob is just complete). */
  verify: boolean;
  slot: StoreSlot;
  mark: DerivedMark;
  /** Called once the blob became complete (and verified). */
  onComplete?: () => void;
  /** Called with the store once the blob is verified and where every origin finds it (on disk). */
  onVerified?: (store: ChunkStore) => Promise<void>;
}

/** The digest check of one cached source. */
export class Verifier {
  private hasher: PrefixHasher | null = null;
  private completing: Promise<void> | null = null;
  /** Counts digest mismatches found; a read that overlapped one rejects with it. */
  private mismatchSeq = 0;
  private lastMismatch: DigestMismatchError | null = null;
  private readonly digest: string;

  constructor(private readonly init: VerifierInit) {
    this.digest = init.digest.value;
  }

  /** Whether written bytes are hashed. */
  get enabled(): boolean {
    return this.init.verify;
  }

  /** Taken before a read or fill: {@link throwIfMismatchSince} then says whether a mismatch came between. */
  get seq(): number {
    return this.mismatchSeq;
  }

  /** Rejects a read or fill during which the blob failed verification (even if found by readahead). */
  throwIfMismatchSince(seq: number): void {
    if (this.mismatchSeq !== seq && this.lastMismatch) throw this.lastMismatch;
  }

  /** Bytes at `offset` that this process just wrote to `store` (every chunk of them). */
  offer(store: ChunkStore, offset: number, bytes: Uint8Array): void {
    if (this.init.verify) this.hasherFor(store).offer(offset, bytes);
  }

  /** Like {@link offer} for consecutive parts; the caller may reuse their memory once it settles. */
  async offerParts(store: ChunkStore, offset: number, parts: readonly Uint8Array[]): Promise<void> {
    if (this.init.verify) await this.hasherFor(store).offerParts(offset, parts);
  }

  /** Drops the hash of a store no longer used. */
  forget(): void {
    this.hasher?.dispose();
    this.hasher = null;
  }

  /** Advances the hash; in memory mode checks it at the end; on disk starts completion when all is there. */
  async afterWrite(store: ChunkStore): Promise<void> {
    const verify = this.init.verify;
    if (store.kind === 'memory') {
      if (!verify) return;
      const h = this.hasherFor(store);
      await h.advance();
      const hex = h.done ? await this.digestOf(store, h) : this.init.digest.hex;
      if (hex !== this.init.digest.hex) {
        this.init.slot.reset(store);
        throw this.mismatch(hex);
      }
      return;
    }
    if (verify)
      this.hasherFor(store)
        .advance()
        .catch((err: unknown) => debug('%s: hashing: %s', this.digest, (err as Error).message));
    await this.init.slot.refreshSometimes(store);
    if (!store.complete && store.presentCount === store.chunkCount) this.completeOnce().catch(() => {});
  }

  /**
   * Once every chunk is present: flushes, verifies against the digest and records the state.
   * Concurrent callers share one run. Rejects with {@link DigestMismatchError} (after discarding
   * the stored bytes) when the blob does not match its digest.
   */
  completeOnce(): Promise<void> {
    if (this.completing) return this.completing;
    const store = this.init.slot.current;
    if (!store || store.complete || store.kind !== 'disk') return Promise.resolve();
    this.completing = this.complete(store).finally(() => (this.completing = null));
    return this.completing;
  }

  private async complete(store: ChunkStore): Promise<void> {
    const { slot, verify } = this.init;
    await store.flush();
    await slot.refresh(store, 0, store.chunkCount);
    if (store !== slot.current || store.presentCount < store.chunkCount) return;
    if (verify) {
      const h = this.hasherFor(store);
      await h.advance();
      if (!h.done) return;
      const hex = await this.digestOf(store, h);
      if (hex !== this.init.digest.hex) {
        await store.discard('digest mismatch');
        slot.reset(store);
        throw this.mismatch(hex);
      }
    }
    await store.setComplete(verify);
    debug('%s: complete%s', this.digest, verify ? ' and verified' : '');
    if (verify && store instanceof DiskStore) await this.promote(store);
    this.init.onComplete?.();
  }

  /**
   * Verified: the instance moves where every origin finds it (or another origin's verified
   * copy is there already: then that one is used from now on).
   */
  private async promote(store: DiskStore): Promise<void> {
    if (!(await store.promote())) {
      this.init.slot.reset(store);
      return;
    }
    await this.init.onVerified?.(store).catch((err: unknown) => debug('%s: %s', this.digest, (err as Error).message));
  }

  private mismatch(hex: string): DigestMismatchError {
    const err = new DigestMismatchError(this.digest, `${this.init.digest.algorithm}:${hex}`, `blob ${this.digest}`);
    this.mismatchSeq++;
    this.init.mark.invalidate();
    this.lastMismatch = err;
    return err;
  }

  private hasherFor(store: ChunkStore): PrefixHasher {
    if (!this.hasher || this.hasher.store !== store) {
      this.hasher?.dispose();
      this.hasher = new PrefixHasher(store, this.init.digest);
    }
    return this.hasher;
  }

  /** The finished hash's digest; if the hash worker died, hashes the stored bytes again here. */
  private async digestOf(store: ChunkStore, h: PrefixHasher): Promise<string> {
    try {
      return await h.digestHex();
    } catch (err) {
      debug('%s: hash worker failed (%s); hashing again in this thread', this.digest, (err as Error).message);
      const local = new PrefixHasher(store, this.init.digest, true);
      await local.advance();
      if (!local.done) throw err;
      return local.digestHex();
    }
  }
}
