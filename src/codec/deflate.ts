/**
 * Raw deflate (RFC 1951, no zlib/gzip header), as EROFS `-zdeflate` stores each physical cluster.
 *
 * Full decodes go through Node's zlib (native, 2–3× pako's speed on 4–64 KiB clusters, see
 * bench/codec.ts) with `maxOutputLength` as the bound. Partial decodes go through pako's
 * low-level inflate (a port of zlib's own inflate.c) with an output buffer of exactly
 * `outputSize` bytes: Node's zlib can only throw when the output would pass its limit, not hand
 * back the first `outputSize` bytes. pako also explains the errors native zlib reports without
 * a position: its `total_in` is where the input went wrong.
 *
 * @packageDocumentation
 */
import { inflateRawSync } from 'node:zlib';
import * as pako from 'pako';
import { CorruptCompressedDataError } from './errors.js';
import { checkOutputSize } from './output-size.js';

/** Options of {@link deflateRawDecompress}. */
export interface DeflateDecompressOptions {
  /**
   * Return the first `outputSize` bytes even when the stream goes on (the kernel's
   * `partial_decoding`); without it the stream's final block must end exactly at `outputSize`.
   */
  partial?: boolean;
}

/**
 * Decodes a raw deflate stream into exactly `outputSize` bytes. Bytes after the final block are
 * ignored, as zlib and the kernel do.
 *
 * @throws CorruptCompressedDataError (codec `deflate`) when the stream is corrupt or truncated, or
 *   decodes to another size than `outputSize` (or, with `partial`, to fewer bytes)
 */
export function deflateRawDecompress(
  input: Uint8Array,
  outputSize: number,
  options: DeflateDecompressOptions = {},
): Uint8Array {
  checkOutputSize('deflate', outputSize);
  const partial = options.partial === true;
  if (partial && outputSize === 0) return new Uint8Array(0);
  if (partial || outputSize === 0) return inflateBounded(input, outputSize, partial);
  let out: Buffer;
  try {
    // One output chunk one byte larger than expected: the result does not hold a slice of a
    // bigger (default 16 KiB) chunk alive, and a stream that goes on past outputSize still gets
    // to the maxOutputLength check.
    out = inflateRawSync(input, { maxOutputLength: outputSize, chunkSize: Math.max(64, outputSize + 1) });
  } catch (err) {
    throw explain(input, outputSize, err);
  }
  if (out.length !== outputSize) {
    throw new CorruptCompressedDataError('deflate', `stream decodes to ${out.length} bytes, expected ${outputSize}`, {
      offset: input.length,
      outputOffset: out.length,
    });
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

const NOTHING = new Uint8Array(0);

/** One pako stream, reset for each decode (decodes are synchronous, so never two at once). */
let stream: pako.ZStream | undefined;

function resetStream(): pako.ZStream {
  if (!stream) {
    stream = new pako.ZStream();
    // Negative window bits: raw deflate, no header or trailer.
    if (pako.zlibInflateInit2(stream, -15) !== pako.Z_OK) throw new Error('pako inflateInit2 failed');
  } else pako.zlibInflateReset(stream);
  return stream;
}

/**
 * Decodes `input` into a buffer of exactly `outputSize` bytes with pako, stopping when it is
 * full. Without `partial`, the stream must end exactly there.
 */
function inflateBounded(input: Uint8Array, outputSize: number, partial: boolean): Uint8Array {
  const s = resetStream();
  const out = new Uint8Array(outputSize);
  s.input = input;
  s.next_in = 0;
  s.avail_in = input.length;
  s.output = out;
  s.next_out = 0;
  s.avail_out = outputSize;
  const rc = pako.zlibInflate(s, pako.Z_FINISH);
  const { total_in: offset, total_out: produced, avail_out: room, msg } = s;
  // Keep no caller's buffer alive in the shared stream.
  s.input = s.output = NOTHING;
  s.avail_in = s.avail_out = 0;
  const fail = (reason: string) =>
    new CorruptCompressedDataError('deflate', reason, { offset, outputOffset: produced });
  if (rc === pako.Z_STREAM_END) {
    if (produced !== outputSize) throw fail(`stream decodes to ${produced} bytes, expected ${outputSize}`);
    return out;
  }
  if (rc !== pako.Z_OK && rc !== pako.Z_BUF_ERROR) throw fail(msg || `inflate failed (${rc})`);
  // Stopped with the stream not ended: the output is full, or the input ran out.
  if (room === 0) {
    if (partial) return out;
    throw fail(`stream decodes to more than ${outputSize} bytes`);
  }
  throw fail('input ends inside the stream');
}

/**
 * zlib says only what went wrong, not where: decode again with pako (an error path, so speed
 * does not matter) for the input and output offsets.
 */
function explain(input: Uint8Array, outputSize: number, err: unknown): CorruptCompressedDataError {
  const code = (err as { code?: unknown }).code;
  try {
    inflateBounded(input, outputSize, false);
  } catch (e) {
    if (e instanceof CorruptCompressedDataError) {
      return new CorruptCompressedDataError(
        'deflate',
        String(e.data.reason),
        { offset: e.offset, outputOffset: e.data.outputOffset as number },
        { cause: err, data: { zlibCode: code } },
      );
    }
  }
  const reason =
    code === 'ERR_BUFFER_TOO_LARGE' ? `stream decodes to more than ${outputSize} bytes` : (err as Error).message;
  return new CorruptCompressedDataError('deflate', reason, { offset: 0 }, { cause: err, data: { zlibCode: code } });
}
