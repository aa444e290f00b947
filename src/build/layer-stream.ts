/**
 * The uncompressed tar stream of a layer blob read as a stream of chunks: gzip through native
 * zlib (multi-member, so eStargz layers too), zstd through the streaming decoder (skippable
 * frames, so zstd:chunked layers too), plain tar as it is. With {@link tarLayerEntries} this is
 * the one-pass path from a tar layer to build entries, dropping the members eStargz adds
 * (TOC, prefetch landmarks).
 *
 * @packageDocumentation
 */
import { createGunzip, type ZlibOptions } from 'node:zlib';
import { Readable } from 'node:stream';
import type { ReadOptions } from '../io/byte-source.js';
import { ZstdStreamDecoder } from '../codec/zstd/stream.js';
import { LANDMARK_FILES } from '../tar/toc-index.js';
import type { BuildEntry } from './entry.js';
import { tarStreamEntries } from './tar-entries.js';

/** How a tar layer's bytes are compressed. */
export type TarCompression = 'none' | 'gzip' | 'zstd';

/** Decompresses a chunk stream. */
export async function* decompressedChunks(
  chunks: AsyncIterable<Uint8Array>,
  compression: TarCompression,
): AsyncGenerator<Uint8Array> {
  if (compression === 'none') {
    yield* chunks;
    return;
  }
  if (compression === 'gzip') {
    // Room for a few MiB of output: inflating goes on (on the thread pool) while the consumer
    // writes. (zlib streams hand their options to stream.Transform; the typings omit it.)
    const gunzip = createGunzip({ chunkSize: 256 * 1024, highWaterMark: 4 * 1024 * 1024 } as ZlibOptions);
    const input = Readable.from(chunks, { objectMode: false, highWaterMark: 4 * 1024 * 1024 });
    input.on('error', (err) => gunzip.destroy(err));
    input.pipe(gunzip);
    for await (const c of gunzip) yield c as Uint8Array;
    return;
  }
  const dec = new ZstdStreamDecoder();
  for await (const c of chunks) for (const out of dec.push(c)) yield out;
  dec.end();
}

/**
 * The entries of a tar layer from its compressed bytes, in one pass. eStargz's TOC and landmark
 * members at the top level are left out (they are the format's, not the layer's).
 */
export async function* tarLayerEntries(
  chunks: AsyncIterable<Uint8Array>,
  compression: TarCompression,
  options: ReadOptions = {},
): AsyncGenerator<BuildEntry> {
  for await (const e of tarStreamEntries(decompressedChunks(chunks, compression), options)) {
    if (!e.path.includes('/') && LANDMARK_FILES.has(e.path) && e.type === 'file') continue;
    yield e;
  }
}
