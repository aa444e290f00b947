/**
 * The uncompressed tar stream of a gzip layer as a random-access {@link ByteSource}: a read
 * decompresses only the spans between checkpoints that it touches, with native zlib resumed at
 * the checkpoint's bit offset (`codec/gzip-resume.ts`). Decoded spans are kept in a small LRU
 * (and sequential reads decode the next span ahead), so `cat` and `extract` decode each span
 * once.
 *
 * @packageDocumentation
 */
import { debuglog } from '../io/debug-log.js';
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { DigestMismatchError, InvalidOptionError, throwIfAborted } from '../errors.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { clampRead } from '../io/check-range.js';
import { GZIP_TRAILER, parseGzipHeader } from '../codec/gzip-member.js';
import { inflateFrom } from '../codec/gzip-resume.js';
import { CorruptGzipError } from './errors.js';
import type { GzipIndex } from './gzip-index.js';

const debug = debuglog('ocifs:gzip');

/** Default memory for decoded spans. */
export const DEFAULT_SPAN_CACHE_BYTES = 64 * 1024 * 1024;

/** Options of {@link GzipIndexedSource}. */
export interface GzipIndexedSourceOptions {
  /** Bytes of decoded spans kept (default {@link DEFAULT_SPAN_CACHE_BYTES}). */
  spanCacheBytes?: number;
  /** Decode the next span ahead when reads are sequential (default true). */
  readAhead?: boolean;
}

/** See the module comment. */
export class GzipIndexedSource implements ByteSource {
  readonly size: number;
  private readonly cache = new Map<number, Promise<Uint8Array>>();
  private cachedBytes = 0;
  private readonly budget: number;
  private readonly readAhead: boolean;
  private lastSpan = -2;
  /** Reads in a row that continued where the previous one ended (roughly). */
  private streak = 0;
  /** Spans decoded so far (for tests and stats). */
  spansDecoded = 0;

  constructor(
    private readonly blob: ByteSource,
    readonly index: GzipIndex,
    options: GzipIndexedSourceOptions = {},
  ) {
    if (blob.size !== index.blobSize) {
      throw new CorruptGzipError(`index is for a ${index.blobSize}-byte blob, the blob has ${blob.size}`, 0);
    }
    this.size = index.tarSize;
    this.budget = options.spanCacheBytes ?? DEFAULT_SPAN_CACHE_BYTES;
    if (!Number.isSafeInteger(this.budget) || this.budget < 0) throw new InvalidOptionError('spanCacheBytes', 'must be a non-negative integer');
    this.readAhead = options.readAhead ?? true;
  }

  /** Index of the span holding uncompressed offset `off`. */
  spanOf(off: number): number {
    const cps = this.index.checkpoints;
    let lo = 0;
    let hi = cps.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (cps[mid].out <= off) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private spanEnd(i: number): number {
    const cps = this.index.checkpoints;
    return i + 1 < cps.length ? cps[i + 1].out : this.index.tarSize;
  }

  async read(offset: number, length: number, options: ReadOptions = {}): Promise<Uint8Array> {
    throwIfAborted(options.signal);
    const n = clampRead(offset, length, this.size);
    if (n === 0) return new Uint8Array(0);
    const first = this.spanOf(offset);
    const last = this.spanOf(offset + n - 1);
    const cps = this.index.checkpoints;
    if (first === last) {
      const span = await this.span(first, options);
      this.afterRead(first, offset + n);
      return span.subarray(offset - cps[first].out, offset - cps[first].out + n);
    }
    const out = new Uint8Array(n);
    const parts = [];
    for (let i = first; i <= last; i++) parts.push(this.span(i, options).then((s) => [i, s] as const));
    for (const [i, s] of await Promise.all(parts)) {
      const from = Math.max(offset, cps[i].out);
      const to = Math.min(offset + n, this.spanEnd(i));
      out.set(s.subarray(from - cps[i].out, to - cps[i].out), from - offset);
    }
    this.afterRead(last, offset + n);
    return out;
  }

  private afterRead(span: number, end: number): void {
    const sequential = span === this.lastSpan || span === this.lastSpan + 1;
    this.lastSpan = span;
    this.streak = sequential ? this.streak + 1 : 0;
    if (!this.readAhead || this.streak === 0 || span + 1 >= this.index.checkpoints.length) return;
    const cp = this.index.checkpoints[span];
    if (end - cp.out >= (this.spanEnd(span) - cp.out) / 2) {
      // Ahead by one span, then two once reads keep coming in order (extract, a big cat): they
      // decode in parallel on the thread pool while this one is consumed. A single small read
      // (one `cat` of a small file) decodes nothing ahead.
      for (const next of this.streak >= 2 ? [span + 1, span + 2] : [span + 1]) {
        if (next < this.index.checkpoints.length && !this.cache.has(next)) {
          this.span(next, {}).catch((err) => debug('read-ahead of span %d failed: %s', next, err));
        }
      }
    }
  }

  private span(i: number, options: ReadOptions): Promise<Uint8Array> {
    const hit = this.cache.get(i);
    if (hit) {
      // Refresh its place in the LRU order.
      this.cache.delete(i);
      this.cache.set(i, hit);
      return hit;
    }
    const size = this.spanEnd(i) - this.index.checkpoints[i].out;
    const p = this.decode(i, options.signal);
    this.cache.set(i, p);
    this.cachedBytes += size;
    p.catch(() => {
      if (this.cache.get(i) === p) {
        this.cache.delete(i);
        this.cachedBytes -= size;
      }
    });
    while (this.cachedBytes > this.budget && this.cache.size > 1) {
      const [oldest] = this.cache.keys();
      if (oldest === i) break;
      this.cache.delete(oldest);
      this.cachedBytes -= this.spanEnd(oldest) - this.index.checkpoints[oldest].out;
    }
    return p;
  }

  /** Decompresses span `i` whole, crossing gzip member boundaries inside it. */
  private async decode(i: number, signal: AbortSignal | undefined): Promise<Uint8Array> {
    const cps = this.index.checkpoints;
    const cp = cps[i];
    const want = this.spanEnd(i) - cp.out;
    const startByte = Math.floor(cp.bit / 8);
    const endByte = i + 1 < cps.length ? Math.ceil(cps[i + 1].bit / 8) : this.blob.size;
    const bytes = await this.blob.read(startByte, endByte - startByte, { signal });
    this.spansDecoded++;
    if (cp.spanDigest !== undefined) {
      // soci hashes exactly these bytes: up to the next checkpoint's `in`, its partial byte included.
      const actual = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
      if (actual !== cp.spanDigest) throw new DigestMismatchError(cp.spanDigest, actual, `compressed span ${i}`, { data: { span: i, offset: startByte } });
    }
    let out: Uint8Array = new Uint8Array(0);
    let got = 0;
    let pos = 0;
    let bit = cp.bit & 7;
    let window = cp.window;
    while (got < want) {
      let res;
      try {
        res = await inflateFrom(bytes.subarray(pos), bit, window, want - got);
      } catch (err) {
        throw new CorruptGzipError(`span ${i} does not decompress: ${(err as Error).message}`, startByte + pos, { cause: err, data: { span: i } });
      }
      if (got === 0 && res.output.length >= want) {
        // The usual case, one member for the whole span: keep zlib's buffer, no copy.
        out = res.output.subarray(0, want);
        got = want;
        break;
      }
      if (out.length === 0) out = new Uint8Array(want);
      out.set(res.output.subarray(0, want - got), got);
      got += Math.min(res.output.length, want - got);
      if (got >= want) break;
      if (!res.ended) throw new CorruptGzipError(`span ${i} decompresses to ${got} bytes, the index says ${want}`, startByte + pos, { data: { span: i } });
      // The member ended inside the span: skip its trailer and the next member's header.
      pos += res.consumed + GZIP_TRAILER;
      const h = parseGzipHeader(bytes.subarray(pos));
      if (!h.ok) throw new CorruptGzipError('bad gzip member header inside a span', startByte + pos, { data: { span: i } });
      pos += h.length;
      bit = 0;
      window = new Uint8Array(0);
    }
    if (cp.crc !== undefined && crc32(out) !== cp.crc) {
      throw new CorruptGzipError(`span ${i} decompresses to different bytes than when it was indexed (CRC mismatch)`, startByte, { data: { span: i } });
    }
    return out;
  }
}
