/**
 * The virtual content stream of a TOC layer (see `toc-index.ts`) as a {@link ByteSource}:
 * a read fetches the compressed ranges of the chunks it touches, decompresses each, checks
 * its `chunkDigest` and serves the bytes. Nothing else of the layer is fetched.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import { DigestMismatchError, InvalidOptionError, throwIfAborted } from '../errors.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { clampRead } from '../io/check-range.js';
import { CorruptGzipError, CorruptTocError } from './errors.js';
import type { TocChunk } from './toc-index.js';

/**
 * Decompresses the start of a compressed range: must return at least `length` bytes (the
 * chunk), or throw. The range may hold more (tar padding, the next header).
 */
export type ChunkDecoder = (compressed: Uint8Array, length: number, options: ReadOptions) => Promise<Uint8Array>;

/** Default memory for decoded chunks. */
export const DEFAULT_CHUNK_CACHE_BYTES = 32 * 1024 * 1024;

/** Options of {@link TocSource}. */
export interface TocSourceOptions {
  /** Bytes of decoded chunks kept (default {@link DEFAULT_CHUNK_CACHE_BYTES}). */
  chunkCacheBytes?: number;
}

/** Decodes the first `length` bytes of a gzip member sequence with native zlib, then stops. */
export const gzipChunkDecoder: ChunkDecoder = (compressed, length) =>
  new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    let done = false;
    const g = createGunzip({ chunkSize: Math.min(Math.max(length, 16 * 1024), 4 * 1024 * 1024) });
    const finish = () => {
      if (done) return;
      done = true;
      g.destroy();
      if (got < length) return reject(new CorruptGzipError(`chunk decompresses to ${got} bytes, expected ${length}`, 0));
      resolve(new Uint8Array(Buffer.concat(parts, got).subarray(0, length)));
    };
    g.on('data', (b: Buffer) => {
      parts.push(b);
      got += b.length;
      if (got >= length) finish();
    });
    g.on('end', finish);
    g.on('error', (err) => {
      if (done) return;
      done = true;
      reject(new CorruptGzipError(`chunk does not decompress: ${err.message}`, 0, { cause: err }));
    });
    g.end(compressed);
  });

/** See the module comment. */
export class TocSource implements ByteSource {
  private readonly cache = new Map<number, Promise<Uint8Array>>();
  private cachedBytes = 0;
  private readonly budget: number;
  /** Chunks fetched and decoded so far (for tests and stats). */
  chunksDecoded = 0;

  constructor(
    private readonly blob: ByteSource,
    private readonly chunks: readonly TocChunk[],
    readonly size: number,
    private readonly decoder: ChunkDecoder,
    options: TocSourceOptions = {},
  ) {
    this.budget = options.chunkCacheBytes ?? DEFAULT_CHUNK_CACHE_BYTES;
    if (!Number.isSafeInteger(this.budget) || this.budget < 0) throw new InvalidOptionError('chunkCacheBytes', 'must be a non-negative integer');
    let at = 0;
    for (const c of chunks) {
      if (c.virtualOffset !== at || (!c.zeros && (c.blobEnd > blob.size || c.blobStart >= c.blobEnd))) throw new CorruptTocError('chunk table does not cover the files');
      at += c.length;
    }
    if (at !== size) throw new CorruptTocError('chunk table does not cover the files');
  }

  private chunkAt(off: number): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.chunks[mid].virtualOffset <= off) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  async read(offset: number, length: number, options: ReadOptions = {}): Promise<Uint8Array> {
    throwIfAborted(options.signal);
    const n = clampRead(offset, length, this.size);
    if (n === 0) return new Uint8Array(0);
    const first = this.chunkAt(offset);
    const last = this.chunkAt(offset + n - 1);
    if (first === last) {
      const c = this.chunks[first];
      const data = await this.chunk(first, options);
      return data.subarray(offset - c.virtualOffset, offset - c.virtualOffset + n);
    }
    const out = new Uint8Array(n);
    const parts = [];
    for (let i = first; i <= last; i++) parts.push(this.chunk(i, options).then((d) => [i, d] as const));
    for (const [i, d] of await Promise.all(parts)) {
      const c = this.chunks[i];
      const from = Math.max(offset, c.virtualOffset);
      const to = Math.min(offset + n, c.virtualOffset + c.length);
      out.set(d.subarray(from - c.virtualOffset, to - c.virtualOffset), from - offset);
    }
    return out;
  }

  private chunk(i: number, options: ReadOptions): Promise<Uint8Array> {
    const hit = this.cache.get(i);
    if (hit) {
      this.cache.delete(i);
      this.cache.set(i, hit);
      return hit;
    }
    const c = this.chunks[i];
    const p = this.load(c, options);
    this.cache.set(i, p);
    this.cachedBytes += c.length;
    p.catch(() => {
      if (this.cache.get(i) === p) {
        this.cache.delete(i);
        this.cachedBytes -= c.length;
      }
    });
    while (this.cachedBytes > this.budget && this.cache.size > 1) {
      const [oldest] = this.cache.keys();
      if (oldest === i) break;
      this.cache.delete(oldest);
      this.cachedBytes -= this.chunks[oldest].length;
    }
    return p;
  }

  private async load(c: TocChunk, options: ReadOptions): Promise<Uint8Array> {
    const data = c.zeros ? new Uint8Array(c.length) : await this.decoder(await this.blob.read(c.blobStart, c.blobEnd - c.blobStart, options), c.length, options);
    this.chunksDecoded++;
    if (data.length < c.length) throw new CorruptTocError(`chunk at ${c.blobStart} decompresses to ${data.length} bytes, expected ${c.length}`);
    const bytes = data.length === c.length ? data : data.subarray(0, c.length);
    if (c.digest) {
      const actual = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
      if (actual !== c.digest) throw new DigestMismatchError(c.digest, actual, `chunk at blob offset ${c.blobStart}`, { data: { offset: c.blobStart } });
    }
    return bytes;
  }
}
