/**
 * One-shot zstd decoding into a buffer of known size: EROFS `-zzstd` clusters (one frame each)
 * and any other complete stream whose decoded size the caller knows.
 *
 * @packageDocumentation
 */
import { CorruptCompressedDataError, UnsupportedCodecError } from '../errors.js';
import { checkOutputSize } from '../output-size.js';
import { BLOCK_SIZE_MAX, ZstdBlockState, type BlockOutput } from './block.js';
import { ZstdFormatError } from './entropy.js';
import { parseZstdFrameHeader, ZSTD_SKIPPABLE_MAGIC_MIN } from './frame.js';
import { FrameChecksum } from './checksum.js';

/** Options of {@link zstdDecompress}. */
export interface ZstdDecompressOptions {
  /**
   * Return the first `outputSize` bytes and ignore the rest of the input. Without it the input
   * must be whole frames that decode to exactly `outputSize` bytes.
   */
  partial?: boolean;
  /**
   * Check each frame's content checksum when it has one (default true; skipped for frames a partial
   * decode stops in).
   */
  verifyChecksum?: boolean;
}

// Reused between calls: EROFS decodes one small frame per cluster, and a fresh 128 KiB literal
// buffer per call would cost as much as the decoding. Decoding is synchronous, so no call sees
// another's state.
const shared = new ZstdBlockState();
const hash = new FrameChecksum();

function u32(src: Uint8Array, p: number): number {
  return (src[p] | (src[p + 1] << 8) | (src[p + 2] << 16) | (src[p + 3] << 24)) >>> 0;
}

/**
 * Decodes the zstd frames in `input` into exactly `outputSize` bytes. Skippable frames are
 * skipped; dictionaries are not supported.
 *
 * @throws CorruptCompressedDataError (codec `zstd`) on corrupt or truncated input, a checksum
 *   mismatch or a size mismatch; UnsupportedCodecError for a frame that needs a dictionary
 */
export function zstdDecompress(input: Uint8Array, outputSize: number, options: ZstdDecompressOptions = {}): Uint8Array {
  checkOutputSize('zstd', outputSize);
  const partial = options.partial === true;
  const verify = options.verifyChecksum !== false;
  const out = new Uint8Array(outputSize);
  let p = 0;
  let op = 0;
  const fail = (reason: string, at: number, cause?: unknown): CorruptCompressedDataError =>
    new CorruptCompressedDataError(
      'zstd',
      reason,
      { offset: at, outputOffset: op },
      cause === undefined ? {} : { cause },
    );
  while (p < input.length) {
    if (partial && op === outputSize) return out;
    if (input.length - p < 4) throw fail('input ends inside a frame magic', p);
    const magic = u32(input, p);
    if ((magic & 0xfffffff0) === ZSTD_SKIPPABLE_MAGIC_MIN) {
      if (input.length - p < 8) throw fail('input ends inside a skippable frame header', p);
      const size = u32(input, p + 4);
      if (p + 8 + size > input.length) throw fail('input ends inside a skippable frame', p);
      p += 8 + size;
      continue;
    }
    const h = parseZstdFrameHeader(input, p);
    if (!h) throw fail('input ends inside a frame header', p);
    if (h.dictionaryId !== 0)
      throw new UnsupportedCodecError('zstd', `frame needs dictionary ${h.dictionaryId}`, { data: { offset: p } });
    if (h.contentSize !== undefined && !partial && op + h.contentSize > outputSize) {
      throw fail(`frame content size ${h.contentSize} exceeds the output size ${outputSize}`, p);
    }
    p += h.headerSize;
    const frameStart = op;
    shared.reset();
    const dst: BlockOutput = {
      dst: out,
      op,
      limit: outputSize,
      windowStart: frameStart,
      windowSize: h.windowSize,
      partial,
    };
    for (;;) {
      if (p + 3 > input.length) throw fail('input ends inside a block header', p);
      const bh = input[p] | (input[p + 1] << 8) | (input[p + 2] << 16);
      const last = (bh & 1) === 1;
      const type = (bh >> 1) & 3;
      const size = bh >>> 3;
      const blockAt = p;
      p += 3;
      if (type === 3) throw fail('reserved block type', blockAt);
      if (size > BLOCK_SIZE_MAX) throw fail(`block of ${size} bytes`, blockAt);
      if (type === 0 || type === 1) {
        const need = type === 0 ? size : 1;
        if (p + need > input.length) throw fail('input ends inside a block', p);
        let n = size;
        if (op + n > outputSize) {
          if (!partial) throw fail(`output larger than ${outputSize} bytes`, blockAt);
          n = outputSize - op;
        }
        if (type === 0) out.set(input.subarray(p, p + n), op);
        else out.fill(input[p], op, op + n);
        op += n;
        p += need;
      } else {
        if (p + size > input.length) throw fail('input ends inside a block', p);
        dst.op = op;
        try {
          const next = shared.decodeBlock(input, p, p + size, dst);
          if (next - op > BLOCK_SIZE_MAX) throw new ZstdFormatError('block decodes to more than 128 KiB');
          op = next;
        } catch (err) {
          if (err instanceof ZstdFormatError) throw fail(err.message, blockAt);
          throw err;
        }
        p += size;
      }
      if (partial && op === outputSize) return out;
      if (last) break;
    }
    if (h.hasChecksum) {
      if (p + 4 > input.length) throw fail('input ends inside a frame checksum', p);
      if (verify) {
        hash.reset();
        hash.update(out, frameStart, op);
        if (hash.digest32() !== u32(input, p)) throw fail('frame checksum mismatch', p);
      }
      p += 4;
    }
    if (h.contentSize !== undefined && op - frameStart !== h.contentSize) {
      throw fail(`frame decodes to ${op - frameStart} bytes, its header says ${h.contentSize}`, p);
    }
  }
  if (op !== outputSize) throw fail(`input decodes to ${op} bytes, expected ${outputSize}`, p);
  return out;
}
