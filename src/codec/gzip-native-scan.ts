/**
 * Native zlib, stepped one deflate block at a time (`Z_BLOCK`), for the gzip index pass.
 *
 * Node's public zlib API cannot stop at block boundaries or say where they are, but its
 * stream objects drive the native inflater through a small handle (`_handle.writeSync(flush,
 * in, inOff, inLen, out, outOff, outLen)`, results in `_writeState`): the same calls
 * `zlib.inflateRawSync` makes. Using them with `Z_BLOCK` gives native speed (about 3x the
 * JavaScript port) and byte positions of block boundaries; the unused bits of the last byte
 * (zlib's `data_type`, not exposed) are recovered by the caller by trial (see
 * {@link matchBoundaryBits}). The handle is internal, so {@link NativeBlockInflater.available}
 * checks its shape first and the pass falls back to pako when it is not there.
 *
 * @packageDocumentation
 */
import * as zlib from 'node:zlib';
import { primedInput } from './gzip-resume.js';

interface ZlibHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
  onerror: (message: string, errno: number, code?: string) => void;
}

/** Result of one {@link NativeBlockInflater.write}. */
export interface BlockStep {
  inUsed: number;
  outUsed: number;
  /** Stopped at a block boundary (output room and input left, progress made). */
  boundary: boolean;
  /** The deflate stream had already ended: nothing was consumed or produced. */
  ended: boolean;
}

/** A raw inflater that returns at each deflate block boundary. */
export class NativeBlockInflater {
  private readonly stream: zlib.InflateRaw;
  private readonly handle: ZlibHandle;
  private readonly state: Uint32Array;
  private error: Error | undefined;

  /** True when this Node's zlib has the handle this class drives. */
  static available(): boolean {
    try {
      const s = zlib.createInflateRaw() as unknown as {
        _handle?: Partial<ZlibHandle>;
        _writeState?: unknown;
        close(): void;
      };
      const ok =
        typeof s._handle?.writeSync === 'function' && s._writeState instanceof Uint32Array && s._writeState.length >= 2;
      s.close();
      return ok;
    } catch {
      return false;
    }
  }

  /** `dictionary`: the history (up to 32 KiB) a stream starting mid-way needs. */
  constructor(dictionary?: Uint8Array) {
    // Output always goes to the caller's buffer: the stream's own (kept until the tick after
    // close) is made as small as zlib allows.
    this.stream = zlib.createInflateRaw({
      chunkSize: zlib.constants.Z_MIN_CHUNK,
      ...(dictionary !== undefined && dictionary.length > 0 ? { dictionary } : {}),
    });
    const s = this.stream as unknown as { _handle: ZlibHandle; _writeState: Uint32Array };
    this.handle = s._handle;
    this.state = s._writeState;
    // zlib reports errors through this callback, synchronously inside writeSync.
    this.handle.onerror = (message, errno, code) => {
      this.error = Object.assign(new Error(message), { errno, code });
    };
  }

  /** Inflates from `input[inOff, inOff + inLen)` into `out[outOff, outOff + outLen)`. */
  write(input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): BlockStep {
    this.throwIfFailed();
    this.handle.writeSync(zlib.constants.Z_BLOCK, input, inOff, inLen, out, outOff, outLen);
    this.throwIfFailed(); // set by onerror during writeSync
    const outLeft = this.state[0];
    const inLeft = this.state[1];
    const inUsed = inLen - inLeft;
    const outUsed = outLen - outLeft;
    const progress = inUsed > 0 || outUsed > 0;
    return {
      inUsed,
      outUsed,
      boundary: progress && outLeft > 0 && inLeft > 0,
      ended: !progress && inLen > 0 && outLen > 0,
    };
  }

  private throwIfFailed(): void {
    if (this.error) throw this.error;
  }

  close(): void {
    this.stream.close();
  }
}

/** Output buffer of one trial in {@link matchBoundaryBits}: a trial never holds more. */
const TRIAL_OUT = 64 * 1024;

/**
 * Finds the bit position of a block boundary known only to the byte: the block starts at bit
 * `8 * p - k` for some k in 0..7 (the unused bits of byte `p - 1`). Each candidate is decoded
 * natively (with `window` as history) and compared with `expected`, the first bytes the block
 * really produced. Returns k when exactly one candidate reproduces them, else undefined (an
 * ambiguous or undecodable boundary; the caller tries a later one) — except when `expected`
 * is the whole block and several candidates reproduce all of it: that is a stored block (the
 * bits before it are padding, read as another stored-block header), every such start decodes
 * the block the same and ends at the same byte, so the smallest k is as good as the others.
 * Without that, a run of stored blocks (incompressible data: a compressed file, random bytes)
 * got no checkpoint at all, and reading anything behind it decompressed all of it.
 *
 * Each trial streams its output through one small buffer and stops at the first byte that
 * differs from `expected`; only when several trials reproduce all of `expected` are those
 * decoded on through the whole block to tell them apart. (One-shot `inflateRawSync` calls
 * allocated each trial's whole output — a block of zeros decodes to 8 MiB from 8 KiB — and kept
 * it until the next tick: for a gzip bomb passed in one synchronous step, 2 GiB at once.)
 *
 * @param byteBefore byte `p - 1` of the compressed stream
 * @param from compressed bytes from byte `p` to the end of the block (and at most one more byte)
 * @param blockLength bytes the block decodes to (a trial that produces more than this, plus a
 *   little of the next block, is wrong)
 */
export function matchBoundaryBits(
  byteBefore: number,
  from: Uint8Array,
  window: Uint8Array,
  expected: Uint8Array,
  blockLength: number,
): number | undefined {
  const withBefore = new Uint8Array(from.length + 1);
  withBefore[0] = byteBefore;
  withBefore.set(from, 1);
  const scratch = new Uint8Array(TRIAL_OUT);
  const inputOf = (k: number) => (k === 0 ? from : primedInput(withBefore, 8 - k).input);
  const matches: number[] = [];
  for (let k = 0; k < 8; k++) if (reproduces(inputOf(k), window, expected, expected.length, scratch)) matches.push(k);
  if (matches.length <= 1) return matches[0];
  const whole = matches.filter((k) => reproduces(inputOf(k), window, expected, blockLength + 1024, scratch));
  if (whole.length === 1) return whole[0];
  // A stored block: every start that decodes all of it is as good as another.
  return whole.length > 1 && expected.length >= blockLength ? whole[0] : undefined;
}

/**
 * True when `input` inflates (with `window`) to output starting with `expected`, without error.
 * With `limit` equal to `expected.length` it stops there; otherwise it decodes on through all
 * of `input`, and more than `limit` bytes of output is a failure.
 */
function reproduces(
  input: Uint8Array,
  window: Uint8Array,
  expected: Uint8Array,
  limit: number,
  scratch: Uint8Array,
): boolean {
  let z: NativeBlockInflater;
  try {
    z = new NativeBlockInflater(window);
  } catch {
    return false;
  }
  try {
    let inPos = 0;
    let produced = 0;
    while (inPos < input.length) {
      const r = z.write(input, inPos, input.length - inPos, scratch, 0, scratch.length);
      if (r.ended || (r.inUsed === 0 && r.outUsed === 0)) break;
      if (produced < expected.length) {
        const n = Math.min(r.outUsed, expected.length - produced);
        if (Buffer.compare(scratch.subarray(0, n), expected.subarray(produced, produced + n)) !== 0) return false;
      }
      produced += r.outUsed;
      if (limit === expected.length && produced >= limit) return true;
      if (produced > limit) return false;
      inPos += r.inUsed;
    }
    return produced >= expected.length;
  } catch {
    return false;
  } finally {
    z.close();
  }
}
