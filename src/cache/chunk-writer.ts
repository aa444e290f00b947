/**
 * {@link ChunkWriter}: writes fetched chunks into a cached source's store, and keeps the books
 * the rest of the source relies on: bytes served but not cached (a full disk, a failed write:
 * they were still served, so the derived-data mark moves), and chunks handed to readers
 * straight from a download that are not written yet (a flush, a completion or a sidecar waits
 * for them).
 *
 * @packageDocumentation
 */
import { debuglog } from '../io/debug-log.js';
import type { DerivedMark } from './derived-mark.js';
import type { ChunkStore, WriteResult } from './store.js';
import { partsLength } from './streaming.js';
import type { Verifier } from './verifier.js';

const debug = debuglog('ocifs:cache');

/** The writes of one cached source. */
export class ChunkWriter {
  /** Bytes fetched but not cached (full disk); they were still served. */
  uncachedBytes = 0;
  /** Chunks whose bytes were handed to readers but are not written yet. */
  private pending = 0;
  private idle: (() => void)[] = [];

  constructor(
    private readonly digest: string,
    private readonly mark: DerivedMark,
    private readonly verifier: Verifier,
  ) {}

  /** Chunks handed to readers but not written yet. */
  get pendingChunks(): number {
    return this.pending;
  }

  /** Counts `chunks` handed to readers before they are written. */
  handedOut(chunks: number): void {
    this.pending += chunks;
  }

  /** `chunks` handed out are written (or given up); wakes {@link writesDone} waiters unless `wake` is false. */
  settled(chunks: number, wake = true): void {
    this.pending -= chunks;
    if (wake) this.wake();
  }

  /** Wakes {@link writesDone} waiters when nothing is pending. */
  wake(): void {
    if (this.pending > 0) return;
    for (const w of this.idle.splice(0)) w();
  }

  /** Resolves when no fetched bytes are waiting to be written. */
  writesDone(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  /** Writes fetched bytes from chunk `c0`; a full disk (or other write failure) leaves them uncached but served. */
  async write(store: ChunkStore, c0: number, bytes: Uint8Array | readonly Uint8Array[]): Promise<WriteResult | null> {
    if (!Number.isInteger(c0)) throw new Error(`unaligned write at chunk ${c0}`);
    const len = bytes instanceof Uint8Array ? bytes.byteLength : partsLength(bytes);
    try {
      const w = await store.write(c0, bytes);
      if (!w) {
        this.uncachedBytes += len;
        this.mark.invalidate();
      } else if (!w.all && store.noSpace) {
        this.mark.invalidate();
        // The disk filled up part-way: count the chunks that are still not stored.
        const cs = store.chunkSize;
        for (let c = c0; c * cs < c0 * cs + len; c++) {
          if (!store.has(c)) this.uncachedBytes += Math.min(cs, c0 * cs + len - c * cs);
        }
      }
      return w;
    } catch (err) {
      debug('%s: caching %d bytes failed (%s); served uncached', this.digest, len, (err as Error).message);
      this.uncachedBytes += len;
      this.mark.invalidate();
      return null;
    }
  }

  /** {@link write} of the bytes at `offset`, then offers them to the hash when every chunk of them was written here. */
  async writeAndHash(store: ChunkStore, offset: number, bytes: Uint8Array): Promise<WriteResult | null> {
    const w = await this.write(store, offset / store.chunkSize, bytes);
    if (w?.all) this.verifier.offer(store, offset, bytes);
    return w;
  }
}
