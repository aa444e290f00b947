/**
 * Moving a blob's bytes out fast: a Node stream or a file fed by a push producer (a cached
 * blob's `streamRange`), and a copy out of a verified blob's data file with large reads into
 * one reused buffer. These are the paths of `ocifs blob` and of {@link ImageBlob}'s
 * `readStream` / `copyToFile`.
 *
 * @packageDocumentation
 */
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { AbortedError, throwIfAborted } from '../errors.js';
import { readFully } from '../io/read-fully.js';
import type { ChunkSink } from '../cache/streaming.js';

/** Something that pushes bytes, in order, into a sink and resolves when done. */
export type Producer = (sink: ChunkSink, signal: AbortSignal) => Promise<void>;

/** Bytes a readable stream buffers before its producer is paused. */
export const STREAM_HIGH_WATER_MARK = 1024 * 1024;
/** Bytes gathered before one write to the output file. */
export const WRITE_BATCH_BYTES = 1024 * 1024;
/** Size of the buffer a file-to-file copy reads into. */
export const COPY_BUFFER_BYTES = 4 * 1024 * 1024;

/** Progress of a copy: bytes delivered so far of `total`. */
export type ProgressFn = (done: number, total: number) => void;

function combined(signal: AbortSignal | undefined, own: AbortController): AbortSignal {
  return signal ? AbortSignal.any([signal, own.signal]) : own.signal;
}

/**
 * A readable stream over what `produce` pushes; the producer is paused while the stream's
 * buffer is full and aborted when the stream is destroyed.
 */
export function producerReadable(
  produce: Producer,
  options: { signal?: AbortSignal; total: number; onProgress?: ProgressFn },
): Readable {
  const own = new AbortController();
  const signal = combined(options.signal, own);
  let wake: (() => void) | null = null;
  let started = false;
  let done = 0;
  const readable = new Readable({
    highWaterMark: STREAM_HIGH_WATER_MARK,
    read() {
      if (!started) {
        started = true;
        produce(sink, signal).then(
          () => readable.push(null),
          (err: unknown) => readable.destroy(err as Error),
        );
        return;
      }
      const w = wake;
      wake = null;
      w?.();
    },
    destroy(err, callback) {
      own.abort(err ?? new AbortedError());
      const w = wake;
      wake = null;
      w?.();
      callback(err);
    },
  });
  const sink: ChunkSink = (chunk) => {
    if (readable.destroyed) throw new AbortedError();
    done += chunk.byteLength;
    options.onProgress?.(done, options.total);
    if (!readable.push(chunk)) return new Promise<void>((resolve) => (wake = resolve));
  };
  return readable;
}

/**
 * Writes what `produce` pushes to `path` (created or truncated, like `createWriteStream`):
 * chunks are gathered to {@link WRITE_BATCH_BYTES} and written with one writev, one batch in
 * flight at a time, at the file's current position (so FIFOs and devices work too).
 */
export async function produceToFile(
  produce: Producer,
  path: string,
  options: { signal?: AbortSignal; total: number; onProgress?: ProgressFn },
): Promise<void> {
  const out = await open(path, 'w');
  const own = new AbortController();
  let parts: Uint8Array[] = [];
  let gathered = 0;
  let done = 0;
  let writing: Promise<unknown> = Promise.resolve();
  let writeError: unknown;
  const flush = async () => {
    const batch = parts;
    parts = [];
    gathered = 0;
    await writing;
    writing = writeAllv(out, batch);
    // A failed write stops the producer at once (and is the error reported).
    writing.catch((err: unknown) => {
      writeError ??= err;
      own.abort(err);
    });
  };
  try {
    try {
      await produce(
        async (chunk) => {
          parts.push(chunk);
          gathered += chunk.byteLength;
          done += chunk.byteLength;
          options.onProgress?.(done, options.total);
          if (gathered >= WRITE_BATCH_BYTES) await flush();
        },
        combined(options.signal, own),
      );
      if (parts.length > 0) await flush();
      await writing;
    } catch (err) {
      throw writeError ?? err;
    }
  } finally {
    await writing.catch(() => {});
    await out.close();
  }
}

async function writeAllv(fh: FileHandle, parts: Uint8Array[]): Promise<void> {
  let total = 0;
  for (const p of parts) total += p.byteLength;
  let written = 0;
  while (written < total) {
    if (written === 0) written += (await fh.writev(parts)).bytesWritten;
    else {
      // A short write (a pipe, a nearly full disk): go on with the rest.
      const rest = Buffer.concat(parts).subarray(written);
      written += (await fh.write(rest, 0, rest.byteLength)).bytesWritten;
    }
  }
}

/**
 * Copies `length` bytes at `start` of an open file to `path` (created or truncated) with large
 * reads into one reused buffer, each written before the next read reuses it.
 */
export async function copyFileRange(
  src: FileHandle,
  path: string,
  options: { start: number; length: number; signal?: AbortSignal; onProgress?: ProgressFn },
): Promise<void> {
  const out = await open(path, 'w');
  try {
    const buf = Buffer.allocUnsafe(Math.min(COPY_BUFFER_BYTES, Math.max(1, options.length)));
    let done = 0;
    while (done < options.length) {
      throwIfAborted(options.signal);
      const n = Math.min(buf.byteLength, options.length - done);
      await readFully(src, buf, { length: n, position: options.start + done, what: 'source file' });
      let w = 0;
      while (w < n) w += (await out.write(buf, w, n - w)).bytesWritten;
      done += n;
      options.onProgress?.(done, options.length);
    }
  } finally {
    await out.close();
  }
}
