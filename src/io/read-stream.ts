import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import type { ByteSource, ReadOptions } from './byte-source.js';
import { clampRead } from './check-range.js';

/** Default piece size for streaming a range of a source. */
export const DEFAULT_STREAM_PIECE = 4 * 1024 * 1024;

/** Options for {@link readStream} and {@link copyToFile}. */
export interface StreamOptions extends ReadOptions {
  /** First byte (default 0). */
  start?: number;
  /** Number of bytes (default: to the end of the source). */
  length?: number;
  /** Bytes per read (default {@link DEFAULT_STREAM_PIECE}). */
  pieceSize?: number;
  /** Reads kept in flight ahead of the consumer (default 2). */
  readAhead?: number;
  /** Called after each piece with the number of bytes delivered so far. */
  onProgress?: (done: number, total: number) => void;
}

/** Yields a range of a source in order, keeping a few reads in flight. */
export async function* readPieces(source: ByteSource, options: StreamOptions = {}): AsyncGenerator<Uint8Array> {
  const start = options.start ?? 0;
  const total = clampRead(start, options.length ?? source.size - start, source.size);
  const piece = options.pieceSize ?? DEFAULT_STREAM_PIECE;
  const ahead = Math.max(1, options.readAhead ?? 2);
  const inflight: Promise<Uint8Array>[] = [];
  let next = 0;
  let done = 0;
  const readOptions: ReadOptions = {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.readaheadLimit !== undefined ? { readaheadLimit: options.readaheadLimit } : {}),
    ...(options.scan ? { scan: true } : {}),
  };
  const issue = () => {
    const n = Math.min(piece, total - next);
    const p = source.read(start + next, n, readOptions);
    p.catch(() => {}); // handled when awaited; avoid an unhandled rejection while queued
    inflight.push(p);
    next += n;
  };
  while (done < total) {
    while (inflight.length < ahead && next < total) issue();
    const bytes = await inflight.shift()!;
    done += bytes.byteLength;
    options.onProgress?.(done, total);
    yield bytes;
  }
}

/** A Node readable stream over a range of a source. */
export function readStream(source: ByteSource, options: StreamOptions = {}): Readable {
  return Readable.from(readPieces(source, options), { objectMode: false });
}

/** Copies a range of a source into a file (created or truncated). */
export async function copyToFile(source: ByteSource, path: string, options: StreamOptions = {}): Promise<void> {
  await pipeline(readStream(source, options), createWriteStream(path));
}
