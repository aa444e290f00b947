/**
 * The virtual content stream of a TOC layer (see `toc-index.ts`) as a {@link ByteSource}:
 * a read fetches the compressed ranges of the chunks it touches, decompresses each, checks
 * its `chunkDigest` and serves the bytes. Nothing else of the layer is fetched.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import { DigestMismatchError } from '../errors.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { CorruptGzipError, CorruptTocError } from './errors.js';
import { SegmentedSource } from './segmented-source.js';
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
export class TocSource extends SegmentedSource {
  /** Chunks fetched and decoded so far (for tests and stats). */
  chunksDecoded = 0;

  constructor(
    private readonly blob: ByteSource,
    private readonly chunks: readonly TocChunk[],
    size: number,
    private readonly decoder: ChunkDecoder,
    options: TocSourceOptions = {},
  ) {
    super(
      chunks.map((c) => c.virtualOffset),
      size,
      { bytes: options.chunkCacheBytes ?? DEFAULT_CHUNK_CACHE_BYTES, option: 'chunkCacheBytes' },
    );
    let at = 0;
    for (const c of chunks) {
      if (c.virtualOffset !== at || (!c.zeros && (c.blobEnd > blob.size || c.blobStart >= c.blobEnd))) throw new CorruptTocError('chunk table does not cover the files');
      at += c.length;
    }
    if (at !== size) throw new CorruptTocError('chunk table does not cover the files');
  }

  /** Fetches chunk `i`'s compressed range, decodes it and checks its digest. */
  protected async decode(i: number, options: ReadOptions): Promise<Uint8Array> {
    const c = this.chunks[i];
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
