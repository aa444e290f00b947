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
import { DigestMismatchError } from '../errors.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { GZIP_TRAILER, parseGzipHeader } from '../codec/gzip-member.js';
import { inflateFrom } from '../codec/gzip-resume.js';
import { CorruptGzipError } from './errors.js';
import { checkpointWindow, type GzipIndex } from './gzip-index.js';
import { SegmentedSource } from './segmented-source.js';

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
export class GzipIndexedSource extends SegmentedSource {
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
    super(
      index.checkpoints.map((c) => c.out),
      index.tarSize,
      { bytes: options.spanCacheBytes ?? DEFAULT_SPAN_CACHE_BYTES, option: 'spanCacheBytes' },
    );
    this.readAhead = options.readAhead ?? true;
  }

  /** Index of the span holding uncompressed offset `off`. */
  spanOf(off: number): number {
    return this.segmentAt(off);
  }

  protected override afterRead(span: number, end: number): void {
    const sequential = span === this.lastSpan || span === this.lastSpan + 1;
    this.lastSpan = span;
    this.streak = sequential ? this.streak + 1 : 0;
    if (!this.readAhead || this.streak === 0 || span + 1 >= this.segmentCount) return;
    const start = this.segmentStart(span);
    if (end - start >= (this.segmentEnd(span) - start) / 2) {
      // Ahead by one span, then two once reads keep coming in order (extract, a big cat): they
      // decode in parallel on the thread pool while this one is consumed. A single small read
      // (one `cat` of a small file) decodes nothing ahead.
      for (const next of this.streak >= 2 ? [span + 1, span + 2] : [span + 1]) {
        if (next < this.segmentCount)
          this.segment(next, {}).catch((err: unknown) => debug('read-ahead of span %d failed: %s', next, err));
      }
    }
  }

  /** Decompresses span `i` whole, crossing gzip member boundaries inside it. */
  protected async decode(i: number, { signal }: ReadOptions): Promise<Uint8Array> {
    const cps = this.index.checkpoints;
    const cp = cps[i];
    const want = this.segmentEnd(i) - cp.out;
    const startByte = Math.floor(cp.bit / 8);
    const endByte = i + 1 < cps.length ? Math.ceil(cps[i + 1].bit / 8) : this.blob.size;
    // No cache readahead past the span: reading ahead is this source's own business (whole spans,
    // decoded ahead only while reads keep coming in order), and a blob-level window of up to
    // 8 MiB behind a program that reads one file would fetch what nothing reads.
    const bytes = await this.blob.read(startByte, endByte - startByte, { signal, readaheadLimit: endByte });
    this.spansDecoded++;
    if (cp.spanDigest !== undefined) {
      // soci hashes exactly these bytes: up to the next checkpoint's `in`, its partial byte included.
      const actual = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
      if (actual !== cp.spanDigest)
        throw new DigestMismatchError(cp.spanDigest, actual, `compressed span ${i}`, {
          data: { span: i, offset: startByte },
        });
    }
    let out: Uint8Array = new Uint8Array(0);
    let got = 0;
    let pos = 0;
    let bit = cp.bit & 7;
    let window = checkpointWindow(cp);
    while (got < want) {
      let res;
      try {
        res = await inflateFrom(bytes.subarray(pos), bit, window, want - got);
      } catch (err) {
        throw new CorruptGzipError(`span ${i} does not decompress: ${(err as Error).message}`, startByte + pos, {
          cause: err,
          data: { span: i },
        });
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
      if (!res.ended)
        throw new CorruptGzipError(`span ${i} decompresses to ${got} bytes, the index says ${want}`, startByte + pos, {
          data: { span: i },
        });
      // The member ended inside the span: skip its trailer and the next member's header.
      pos += res.consumed + GZIP_TRAILER;
      const h = parseGzipHeader(bytes.subarray(pos));
      if (!h.ok)
        throw new CorruptGzipError('bad gzip member header inside a span', startByte + pos, { data: { span: i } });
      pos += h.length;
      bit = 0;
      window = new Uint8Array(0);
    }
    if (cp.crc !== undefined && crc32(out) !== cp.crc) {
      throw new CorruptGzipError(
        `span ${i} decompresses to different bytes than when it was indexed (CRC mismatch)`,
        startByte,
        { data: { span: i } },
      );
    }
    return out;
  }
}
