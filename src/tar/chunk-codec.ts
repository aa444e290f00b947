/**
 * How the chunks of a TOC layer (eStargz: gzip members; zstd:chunked and stargz's zstd variant:
 * zstd frames) are decoded: whole, for chunks small enough to hold in memory, or as a stream,
 * for chunks of any size (a file stored as one chunk can be gigabytes).
 *
 * @packageDocumentation
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { ReadOptions } from '../io/byte-source.js';
import { zstdDecompress } from '../codec/zstd/decompress.js';
import { zstdDecompressStream } from '../codec/zstd/stream.js';
import { CorruptGzipError, CorruptTocError } from './errors.js';

/**
 * Decompresses the start of a compressed range: must return at least `length` bytes (the
 * chunk), or throw. The range may hold more (tar padding, the next header).
 */
export type ChunkDecoder = (compressed: Uint8Array, length: number, options: ReadOptions) => Promise<Uint8Array>;

/** A chunk format: decoding a range held in memory, or streaming one read piece by piece. */
export interface ChunkCodec {
  /** Name for messages (`gzip`, `zstd`). */
  readonly name: string;
  decode: ChunkDecoder;
  /**
   * Yields the decompressed bytes of `compressed` (pieces of the range, in order); the caller
   * stops iterating once it has what it needs. Throws `ERR_OCIFS_CORRUPT_*` on bad data.
   */
  stream(compressed: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array>;
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
      if (got < length) {
        reject(new CorruptGzipError(`chunk decompresses to ${got} bytes, expected ${length}`, 0));
        return;
      }
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

/** zlib's own errors carry a `Z_*` code; anything else (a failed read of the range) passes through. */
function isZlibError(err: unknown): boolean {
  return typeof (err as { code?: unknown })?.code === 'string' && (err as { code: string }).code.startsWith('Z_');
}

async function* gunzipStream(compressed: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const input = Readable.from(compressed, { objectMode: false });
  const g = createGunzip();
  input.on('error', (err) => g.destroy(err));
  input.pipe(g);
  try {
    for await (const b of g) yield b as Buffer;
  } catch (err) {
    if (isZlibError(err))
      throw new CorruptGzipError(`chunk does not decompress: ${(err as Error).message}`, 0, { cause: err });
    throw err;
  } finally {
    input.destroy();
    g.destroy();
  }
}

/** eStargz chunks: gzip members. */
export const gzipChunkCodec: ChunkCodec = { name: 'gzip', decode: gzipChunkDecoder, stream: gunzipStream };

/** zstd:chunked chunks: the zstd frame(s) at the start of a range. */
export const zstdChunkCodec: ChunkCodec = {
  name: 'zstd',
  decode: async (compressed, length) => zstdDecompress(compressed, length, { partial: true }),
  stream: (compressed) => zstdDecompressStream(compressed),
};

/** Checks that a decoded chunk is as long as the TOC says. */
export function checkChunkLength(got: number, want: number, blobStart: number): void {
  if (got < want) throw new CorruptTocError(`chunk at ${blobStart} decompresses to ${got} bytes, expected ${want}`);
}
