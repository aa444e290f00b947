/**
 * {@link ChunkReader}: one read of a cached blob that is not (known to be) complete. It serves
 * what the store holds, takes bytes of finished downloads not written yet from memory, joins or
 * starts fetches for the rest, and goes round until every chunk is covered, reattaching when the
 * instance was evicted or replaced meanwhile. The read that completes the blob waits for its
 * verification and rejects on a mismatch.
 *
 * @packageDocumentation
 */
import { throwIfAborted } from '../errors.js';
import type { IoStats } from '../io/io-stats.js';
import { chunkRuns, chunkRunsBy, everyChunk } from './chunk-runs.js';
import { CacheStuckError } from './errors.js';
import type { Piece } from './fetch-task.js';
import type { Fetcher } from './fetcher.js';
import { PRIORITY_USER } from './scheduler.js';
import type { SourceParts } from './source-parts.js';
import { StoreMissError, type ChunkStore } from './store.js';

/** Reads rounds before a read that makes no progress gives up. */
const MAX_ROUNDS = 10_000;

/** A plain Uint8Array of `n` bytes over memory that is not zero-filled first: every byte is overwritten. */
export function allocOut(n: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

/** Reads through the cache for one cached source. */
export class ChunkReader {
  constructor(
    private readonly parts: SourceParts,
    private readonly fetcher: Fetcher,
    private readonly stats: IoStats | undefined,
  ) {}

  /** The bytes `[offset, offset + n)` (n > 0, inside the blob), fetching what is missing. */
  async read(offset: number, n: number, signal: AbortSignal | undefined): Promise<Uint8Array> {
    const { slot, inflight, verifier } = this.parts;
    const seq = verifier.seq;
    const out = allocOut(n);
    const end = offset + n;
    const cs = slot.chunkSize;
    const c0 = Math.floor(offset / cs);
    const c1 = Math.floor((end - 1) / cs) + 1;
    const covered = new Uint8Array(c1 - c0);
    const isCovered = (c: number) => covered[c - c0] === 1;
    const need = (c: number): [number, number] => [Math.max(offset, c * cs), Math.min(end, (c + 1) * cs)];
    let first = true;
    let store = await slot.get();
    const copyPieces = (pieces: Piece[]): number => {
      let copied = 0;
      for (const p of pieces) {
        const pEnd = p.offset + p.bytes.byteLength;
        for (let c = Math.max(c0, Math.floor(p.offset / cs)); c < c1 && c * cs < pEnd; c++) {
          if (isCovered(c)) continue;
          const [from, to] = need(c);
          if (p.offset > from || pEnd < to) continue;
          out.set(p.bytes.subarray(from - p.offset, to - p.offset), from - offset);
          covered[c - c0] = 1;
          copied += to - from;
        }
      }
      return copied;
    };
    for (let round = 0; ; round++) {
      if (round > MAX_ROUNDS) throw new CacheStuckError(this.parts.digest, offset);
      throwIfAborted(signal);
      store = await slot.get();
      const s = store;
      if (!everyChunk(c0, c1, (c) => isCovered(c) || s.has(c))) {
        await slot.refresh(store, c0, c1);
        store = await slot.get();
      }
      // Serve what is readable now.
      const readable = store;
      let served = 0;
      for (const [c, e] of chunkRuns(c0, c1, (k) => !isCovered(k) && readable.has(k))) {
        const from = need(c)[0];
        const to = need(e - 1)[1];
        try {
          await readable.read(from, to - from, out, from - offset);
          covered.fill(1, c - c0, e - c0);
          served += to - from;
        } catch (err) {
          if (!(err instanceof StoreMissError)) throw err;
        }
      }
      // Bytes of finished downloads not yet written are in memory: no waiting either.
      for (const { key: t } of chunkRunsBy(c0, c1, (c) => (isCovered(c) ? undefined : inflight.get(c)))) {
        if (t.result) served += copyPieces(t.result);
      }
      if (first) {
        first = false;
        if (this.stats) {
          this.stats.cacheHitBytes += served;
          this.stats.cacheMissBytes += n - served;
        }
      }
      if (covered.every((v) => v === 1)) break;
      if (!(await slot.stillCurrent(store))) continue;
      const tasks = this.fetcher.ensure(store, c0, c1, PRIORITY_USER, isCovered);
      const pieces = await this.fetcher.waitTasks(tasks, signal);
      copyPieces(pieces);
    }
    await this.finish(store, seq);
    return out;
  }

  /**
   * The end of a read or stream from `store` that started at mismatch count `seq`: the one that
   * makes the blob complete waits for its verification (bytes it got straight from a download
   * may still be on their way to disk); a mismatch meanwhile rejects it.
   */
  async finish(store: ChunkStore, seq: number): Promise<void> {
    const { writer, verifier } = this.parts;
    if (store.kind === 'disk' && !store.complete && store.presentCount + writer.pendingChunks >= store.chunkCount) {
      await writer.writesDone();
      if (store.presentCount === store.chunkCount) await verifier.completeOnce();
    }
    verifier.throwIfMismatchSince(seq);
    store.touch();
  }
}
