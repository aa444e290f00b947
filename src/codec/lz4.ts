/**
 * LZ4 block decoder (the raw block format, no frame), as EROFS stores it in each physical cluster.
 *
 * Full decodes go to `lz4-napi` (lz4_flex, a bounds-checked Rust decoder, as a prebuilt N-API
 * binary: no install script) when it loads: measured 2–4× faster than the TypeScript decoder
 * on 4–64 KiB clusters, per-call cost included (bench/codec.ts). Partial decodes (which
 * lz4_flex cannot do), platforms without a binary, and error reports (for the offset) use the
 * TypeScript decoder below, which is the reference for the semantics: the native result is
 * accepted only when it is exactly `outputSize` bytes.
 *
 * @packageDocumentation
 */
import { createRequire } from 'node:module';
import { debuglog } from '../io/debug-log.js';
import { CorruptCompressedDataError } from './errors.js';
import { checkOutputSize } from './output-size.js';

const debug = debuglog('ocifs:codec');

type NativeLz4 = (prefixed: Uint8Array) => Uint8Array;
let native: NativeLz4 | null | undefined;

/** The native decoder, or null when `lz4-napi` has no binary here (or OCIFS_LZ4_NATIVE=0). */
function nativeLz4(): NativeLz4 | null {
  if (native === undefined) {
    native = null;
    if (process.env.OCIFS_LZ4_NATIVE !== '0') {
      try {
        const mod = createRequire(import.meta.url)('lz4-napi') as { uncompressSync: NativeLz4 };
        if (typeof mod.uncompressSync === 'function') native = mod.uncompressSync;
      } catch (err) {
        debug('lz4-napi unavailable, using the TypeScript LZ4 decoder: %s', (err as Error).message);
      }
    }
  }
  return native;
}

/** True when full LZ4 decodes use the native `lz4-napi` decoder. */
export function lz4NativeAvailable(): boolean {
  return nativeLz4() !== null;
}

/** Options of {@link lz4DecompressBlock}. */
export interface Lz4DecompressOptions {
  /**
   * Stop as soon as `outputSize` bytes are produced, even in the middle of a sequence, and ignore
   * the rest of the input: the kernel's `LZ4_decompress_safe_partial`, which EROFS uses when only
   * the head of a cluster's data is wanted or when the cluster has no 0-padding (so the input has
   * trailing bytes after the block). Without it the block must end exactly at the end of the input
   * and produce exactly `outputSize` bytes (`LZ4_decompress_safe`).
   */
  partial?: boolean;
}

/** Matches longer than this are copied with `copyWithin`; shorter ones byte by byte (cheaper to set up). */
const COPY_LOOP_MAX = 32;

function corrupt(reason: string, offset: number, outputOffset: number): CorruptCompressedDataError {
  return new CorruptCompressedDataError('lz4', reason, { offset, outputOffset });
}

/**
 * Decodes one raw LZ4 block into exactly `outputSize` bytes.
 *
 * Every length in the block is checked against the input and the output before it is used, so
 * corrupt input throws {@link CorruptCompressedDataError} (`ERR_OCIFS_CORRUPT_COMPRESSED_DATA`,
 * codec `lz4`) and never reads or writes out of bounds; the output is never larger than
 * `outputSize`. The block may not refer to data before its own start (EROFS clusters are
 * independent blocks with no dictionary).
 *
 * @param input the compressed block (EROFS: after the 0-padding, see {@link stripZeroPadding})
 * @param outputSize the number of bytes the block decodes to (or, with `partial`, the number wanted)
 * @returns a new array of exactly `outputSize` bytes
 */
export function lz4DecompressBlock(
  input: Uint8Array,
  outputSize: number,
  options: Lz4DecompressOptions = {},
): Uint8Array {
  checkOutputSize('lz4', outputSize);
  const partial = options.partial === true;
  const fast = partial || outputSize === 0 ? null : nativeLz4();
  if (fast) {
    // lz4_flex takes the decoded size as a 4-byte little-endian prefix.
    const prefixed = new Uint8Array(input.length + 4);
    prefixed[0] = outputSize & 0xff;
    prefixed[1] = (outputSize >>> 8) & 0xff;
    prefixed[2] = (outputSize >>> 16) & 0xff;
    prefixed[3] = outputSize >>> 24;
    prefixed.set(input, 4);
    try {
      const out = fast(prefixed);
      // A plain Uint8Array view (the binding returns a Buffer), like every other decoder.
      if (out.length === outputSize) return new Uint8Array(out.buffer, out.byteOffset, out.length);
    } catch {
      // Corrupt: decode again below for an error with the offset.
    }
  }
  return lz4DecompressTs(input, outputSize, partial);
}

/** The TypeScript decoder: the reference semantics, partial decoding and error offsets. */
function lz4DecompressTs(input: Uint8Array, outputSize: number, partial: boolean): Uint8Array {
  const out = new Uint8Array(outputSize);
  const inEnd = input.length;
  let ip = 0;
  let op = 0;
  if (outputSize === 0 && partial) return out;

  for (;;) {
    if (ip >= inEnd) throw corrupt('input ends before the block does', ip, op);
    const token = input[ip++];

    // Literals.
    let litLen = token >>> 4;
    if (litLen === 15) {
      let b: number;
      do {
        if (ip >= inEnd) throw corrupt('input ends inside a literal length', ip, op);
        b = input[ip++];
        litLen += b;
      } while (b === 255);
    }
    if (litLen > 0) {
      let n = litLen;
      let stop = false;
      if (op + n > outputSize) {
        if (!partial) throw corrupt(`literals overrun the output size ${outputSize}`, ip, op);
        n = outputSize - op;
        stop = true;
      }
      if (ip + n > inEnd) throw corrupt('input ends inside literals', ip, op);
      if (n <= COPY_LOOP_MAX) {
        for (let i = 0; i < n; i++) out[op + i] = input[ip + i];
      } else {
        out.set(input.subarray(ip, ip + n), op);
      }
      ip += n;
      op += n;
      if (stop) return out;
    }

    // The last sequence has literals only: the block ends here.
    if (ip === inEnd) {
      if (op !== outputSize) throw corrupt(`block decodes to ${op} bytes, expected ${outputSize}`, ip, op);
      return out;
    }
    if (partial && op === outputSize) return out;

    // Match.
    if (ip + 2 > inEnd) throw corrupt('input ends inside a match offset', ip, op);
    const offset = input[ip] | (input[ip + 1] << 8);
    if (offset === 0 || offset > op)
      throw corrupt(`match offset ${offset} points before the start of the block`, ip, op);
    ip += 2;
    let matchLen = (token & 15) + 4;
    if (matchLen === 19) {
      let b: number;
      do {
        if (ip >= inEnd) throw corrupt('input ends inside a match length', ip, op);
        b = input[ip++];
        matchLen += b;
      } while (b === 255);
    }
    let stop = false;
    if (op + matchLen > outputSize) {
      if (!partial) throw corrupt(`match overruns the output size ${outputSize}`, ip, op);
      matchLen = outputSize - op;
      stop = true;
    }
    const from = op - offset;
    if (matchLen <= COPY_LOOP_MAX) {
      for (let i = 0; i < matchLen; i++) out[op + i] = out[from + i];
      op += matchLen;
    } else if (offset >= matchLen) {
      out.copyWithin(op, from, from + matchLen);
      op += matchLen;
    } else {
      // Overlapping copy of a repeating pattern: [from, op) repeats with a period that divides
      // op - from, so copying it forward doubles the copied run each step.
      const end = op + matchLen;
      while (op < end) {
        const n = Math.min(end - op, op - from);
        out.copyWithin(op, from, from + n);
        op += n;
      }
    }
    if (stop) return out;
  }
}
