/**
 * {@link RangeStreamer}: delivers a range of a cached blob to a sink, in order
 * (`CachedSource.streamRange`). It walks the range from the front: present chunks are piped
 * from the store; a missing run of at least {@link DEFAULT_STREAM_MIN_BYTES} becomes one
 * upstream stream when the upstream can stream (the bytes reach the sink as they arrive and
 * are cached on the way, other readers here joining it); anything else goes through ordinary
 * reads, cut where a streamable run starts. Nothing is read ahead beyond the range.
 *
 * @packageDocumentation
 */
import { throwIfAborted } from '../errors.js';
import type { IoStats } from '../io/io-stats.js';
import { allocOut, type ChunkReader } from './chunk-reader.js';
import { runEnd } from './chunk-runs.js';
import { CacheClosedError } from './errors.js';
import type { Fetcher } from './fetcher.js';
import { DEFAULT_STREAM_MIN_BYTES } from './options.js';
import { PRIORITY_USER } from './scheduler.js';
import type { SourceParts } from './source-parts.js';
import { StoreMissError, type ChunkStore } from './store.js';
import type { ChunkSink } from './streaming.js';

/** Bytes per store read when streaming present chunks. */
const STORED_PIECE_BYTES = 4 * 1024 * 1024;

/** Streams ranges of one cached source. */
export class RangeStreamer {
  constructor(
    private readonly parts: SourceParts,
    private readonly fetcher: Fetcher,
    private readonly reader: ChunkReader,
    /** Whether the upstream can stream (see `isStreamable`). */
    private readonly canStream: boolean,
    private readonly stats: IoStats | undefined,
  ) {}

  /**
   * Delivers `[offset, end)` (not empty, inside the blob) to `sink`; `seq` is the verifier's
   * mismatch count when the caller started. Like a read, the stream that completes the blob
   * waits for its verification and rejects on a mismatch.
   */
  async stream(
    offset: number,
    end: number,
    sink: ChunkSink,
    signal: AbortSignal | undefined,
    seq: number,
  ): Promise<void> {
    const { slot, inflight, size } = this.parts;
    let store = await slot.get();
    let pos = offset;
    while (pos < end) {
      throwIfAborted(signal);
      if (slot.closed) throw new CacheClosedError(`cached blob ${this.parts.digest}`);
      store = await slot.get();
      const cs = store.chunkSize;
      const c = Math.floor(pos / cs);
      const cEnd = Math.ceil(end / cs);
      if (!store.complete) {
        await slot.refresh(store, c, cEnd);
        store = await slot.get();
      }
      const s = store;
      if (s.has(c)) {
        const e = runEnd(c, cEnd, (k) => s.has(k));
        const at = await this.pipeStored(s, pos, Math.min(end, e * cs), sink, signal);
        if (at > pos) {
          pos = at;
          continue;
        }
        // Not stored after all (evicted meanwhile): an ordinary read below.
      }
      /** Where a streamed run from `a` would end: `a` when the run is too short to stream. */
      const streamable = (a: number) => {
        const b = runEnd(a, cEnd, (k) => !s.has(k) && !inflight.has(k));
        const long = Math.min(size, b * cs) - a * cs >= DEFAULT_STREAM_MIN_BYTES;
        return this.canStream && s.kind === 'disk' && long ? b : a;
      };
      const e = s.has(c) ? c : streamable(c);
      if (e > c) {
        const ask = { c0: c, c1: e, from: pos, to: Math.min(end, e * cs), sink, signal, priority: PRIORITY_USER };
        const to = await this.fetcher.stream(s, ask);
        if (this.stats) this.stats.cacheMissBytes += to - pos;
        if (to > pos) {
          pos = to;
          continue;
        }
        // Another process claimed its start: an ordinary read waits for that process's bytes.
      }
      // A piece of ordinary reads, cut where a streamable run starts.
      let stop = Math.min(cEnd, Math.floor((pos + STORED_PIECE_BYTES) / cs));
      for (let k = c + 1; k < stop; k++) {
        if (!s.has(k) && (s.has(k - 1) || inflight.has(k - 1)) && streamable(k) > k) {
          stop = k;
          break;
        }
      }
      const to = Math.min(end, Math.max(stop, c + 1) * cs);
      const bytes = await this.reader.read(pos, to - pos, signal);
      const r = sink(bytes);
      if (r) await r;
      pos = to;
    }
    await this.reader.finish(store, seq);
  }

  /** Streams present bytes `[pos, to)` from the store (two reads in flight); returns where it got to. */
  private async pipeStored(
    store: ChunkStore,
    pos: number,
    to: number,
    sink: ChunkSink,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    const reads: Promise<Uint8Array | null>[] = [];
    let next = pos;
    const issue = () => {
      // Pieces end on multiples of the piece size (page-aligned reads after the first).
      const n = Math.min(to, (Math.floor(next / STORED_PIECE_BYTES) + 1) * STORED_PIECE_BYTES) - next;
      const out = allocOut(n);
      const r = store.read(next, n, out, 0).then(
        () => out,
        (err: unknown) => {
          if (err instanceof StoreMissError) return null;
          throw err;
        },
      );
      r.catch(() => {}); // awaited in order below
      reads.push(r);
      next += n;
    };
    while (pos < to) {
      throwIfAborted(signal);
      while (reads.length < 2 && next < to) issue();
      const bytes = await reads.shift()!;
      if (!bytes) break; // no longer stored (evicted from memory, store retired): re-plan
      if (this.stats) this.stats.cacheHitBytes += bytes.byteLength;
      const r = sink(bytes);
      if (r) await r;
      pos += bytes.byteLength;
    }
    return pos;
  }
}
