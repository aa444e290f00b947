/**
 * Streaming zstd decoding for tar+zstd layers: bytes go in as they arrive, decoded bytes come
 * out block by block (at most 128 KiB at a time), and memory stays bounded by the frame's window
 * (refused above {@link ZstdStreamOptions.maxWindowSize}) plus one block of input.
 *
 * @packageDocumentation
 */
import { InvalidOptionError } from '../../errors.js';
import { CorruptCompressedDataError, UnsupportedCodecError } from '../errors.js';
import { BLOCK_SIZE_MAX, ZstdBlockState, type BlockOutput } from './block.js';
import { ZstdFormatError } from './entropy.js';
import { parseZstdFrameHeader, ZSTD_SKIPPABLE_MAGIC_MIN, type ZstdFrameHeader } from './frame.js';
import { FrameChecksum } from './checksum.js';

/** Default largest window a stream may ask for: 128 MiB, zstd's own default limit (`--memory`). */
export const DEFAULT_ZSTD_MAX_WINDOW_SIZE = 128 * 1024 * 1024;

/** Where a frame of the stream was and what it decoded to, reported when it ends. */
export interface ZstdStreamFrame {
  type: 'frame' | 'skippable';
  /** Offset of the frame in the compressed stream, and its size there. */
  compressedOffset: number;
  compressedSize: number;
  /** Offset of the frame's output in the decoded stream, and its size (0 for skippable frames). */
  decompressedOffset: number;
  decompressedSize: number;
}

/** Options of {@link createZstdDecoder}. */
export interface ZstdStreamOptions {
  /** Largest window size accepted; a frame asking for more is refused. Default {@link DEFAULT_ZSTD_MAX_WINDOW_SIZE}. */
  maxWindowSize?: number;
  /** Check content checksums (default true). */
  verifyChecksum?: boolean;
  /** Called at the end of each frame, e.g. to record restart points for random access. */
  onFrame?: (frame: ZstdStreamFrame) => void;
}

/** Most extra room kept after the window (bounds memory to window + 16 MiB). */
const WINDOW_SLACK_MAX = 16 * 1024 * 1024;
/** First size of the window buffer of a frame. */
const WINDOW_INITIAL = 1024 * 1024;

function u32(src: Uint8Array, p: number): number {
  return (src[p] | (src[p + 1] << 8) | (src[p + 2] << 16) | (src[p + 3] << 24)) >>> 0;
}

/**
 * An incremental zstd decoder. Feed it with {@link ZstdStreamDecoder.push}, which returns the
 * bytes decoded so far (new arrays, owned by the caller); call {@link ZstdStreamDecoder.end} when
 * the input is complete. Any error is a {@link CorruptCompressedDataError} with the offset in the
 * compressed stream, and leaves the decoder failed.
 */
export class ZstdStreamDecoder {
  /** Compressed bytes consumed so far. */
  bytesIn = 0;
  /** Decoded bytes produced so far. */
  bytesOut = 0;
  private buf = new Uint8Array(0);
  private inStart = 0;
  private inEnd = 0;
  private readonly maxWindow: number;
  private readonly verify: boolean;
  private readonly onFrame: ((f: ZstdStreamFrame) => void) | undefined;
  private readonly state = new ZstdBlockState();
  private readonly hash = new FrameChecksum();
  private frame: ZstdFrameHeader | undefined;
  private frameIn = 0;
  private frameOut = 0;
  private skip = -1;
  private lastBlockDone = false;
  private win = new Uint8Array(0);
  private winCap = 0;
  private wpos = 0;
  private failed: unknown;

  constructor(options: ZstdStreamOptions = {}) {
    const max = options.maxWindowSize ?? DEFAULT_ZSTD_MAX_WINDOW_SIZE;
    if (!Number.isSafeInteger(max) || max < 1024)
      throw new InvalidOptionError('maxWindowSize', `must be an integer ≥ 1024, got ${max}`);
    this.maxWindow = max;
    this.verify = options.verifyChecksum !== false;
    this.onFrame = options.onFrame;
  }

  /** True between frames (the input so far is whole frames). */
  get atFrameBoundary(): boolean {
    return this.frame === undefined && this.skip < 0 && this.inEnd === this.inStart;
  }

  /** Adds compressed bytes; returns what they decode to. */
  push(chunk: Uint8Array): Uint8Array[] {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- the failure recorded below, as caught
    if (this.failed) throw this.failed;
    this.append(chunk);
    const out: Uint8Array[] = [];
    try {
      while (this.step(out));
    } catch (err) {
      this.failed = err instanceof ZstdFormatError ? this.corrupt(err.message) : err;
      throw this.failed;
    }
    return out;
  }

  /** Declares the input complete; throws if it ended inside a frame. */
  end(): void {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- the failure recorded in push, as caught
    if (this.failed) throw this.failed;
    if (!this.atFrameBoundary) {
      this.failed = this.corrupt(
        this.inEnd > this.inStart || this.frame || this.skip >= 0 ? 'stream ends inside a frame' : 'stream ends early',
      );
      throw this.failed;
    }
  }

  private corrupt(reason: string): CorruptCompressedDataError {
    return new CorruptCompressedDataError('zstd', reason, { offset: this.bytesIn, outputOffset: this.bytesOut });
  }

  private append(chunk: Uint8Array): void {
    const have = this.inEnd - this.inStart;
    if (this.inEnd + chunk.length > this.buf.length) {
      if (have + chunk.length <= this.buf.length) {
        this.buf.copyWithin(0, this.inStart, this.inEnd);
      } else {
        const next = new Uint8Array(Math.max(have + chunk.length, 2 * this.buf.length, 1024));
        next.set(this.buf.subarray(this.inStart, this.inEnd));
        this.buf = next;
      }
      this.inStart = 0;
      this.inEnd = have;
    }
    this.buf.set(chunk, this.inEnd);
    this.inEnd += chunk.length;
  }

  private consume(n: number): void {
    this.inStart += n;
    this.bytesIn += n;
  }

  /** Makes one unit of progress; false when more input is needed. */
  private step(out: Uint8Array[]): boolean {
    const avail = this.inEnd - this.inStart;
    const b = this.buf;
    const p = this.inStart;
    if (this.skip >= 0) {
      const n = Math.min(this.skip, avail);
      this.consume(n);
      this.skip -= n;
      if (this.skip > 0) return false;
      this.skip = -1;
      this.onFrame?.({
        type: 'skippable',
        compressedOffset: this.frameIn,
        compressedSize: this.bytesIn - this.frameIn,
        decompressedOffset: this.bytesOut,
        decompressedSize: 0,
      });
      return true;
    }
    if (!this.frame) {
      if (avail < 4) return false;
      const magic = u32(b, p);
      if ((magic & 0xfffffff0) === ZSTD_SKIPPABLE_MAGIC_MIN) {
        if (avail < 8) return false;
        this.frameIn = this.bytesIn;
        this.skip = u32(b, p + 4);
        this.consume(8);
        return true;
      }
      const h = parseZstdFrameHeader(b, p, this.inEnd);
      if (!h) return false;
      if (h.dictionaryId !== 0)
        throw new UnsupportedCodecError('zstd', `frame needs dictionary ${h.dictionaryId}`, {
          data: { offset: this.bytesIn },
        });
      if (h.windowSize > this.maxWindow)
        throw new ZstdFormatError(`frame window of ${h.windowSize} bytes exceeds maxWindowSize ${this.maxWindow}`);
      this.frame = h;
      this.frameIn = this.bytesIn;
      this.frameOut = this.bytesOut;
      this.lastBlockDone = false;
      this.state.reset();
      this.hash.reset();
      // Window buffer: the window plus room for more output, so the window is slid (copied)
      // once per `extra` bytes rather than once per block; reused when big enough.
      const extra = Math.max(BLOCK_SIZE_MAX, Math.min(h.windowSize, WINDOW_SLACK_MAX));
      this.winCap = h.windowSize + extra;
      // Start small and grow with the output: a frame that declares a large window but is short
      // (stdin input has no content size) never pays for the whole window.
      const initial = Math.min(this.winCap, WINDOW_INITIAL);
      if (this.win.length < initial || this.win.length > this.winCap) this.win = new Uint8Array(initial);
      this.wpos = 0;
      this.consume(h.headerSize);
      return true;
    }
    const h = this.frame;
    if (this.lastBlockDone) {
      if (h.hasChecksum) {
        if (avail < 4) return false;
        if (this.verify && this.hash.digest32() !== u32(b, p)) throw new ZstdFormatError('frame checksum mismatch');
        this.consume(4);
      }
      const size = this.bytesOut - this.frameOut;
      if (h.contentSize !== undefined && size !== h.contentSize)
        throw new ZstdFormatError(`frame decodes to ${size} bytes, its header says ${h.contentSize}`);
      this.frame = undefined;
      this.onFrame?.({
        type: 'frame',
        compressedOffset: this.frameIn,
        compressedSize: this.bytesIn - this.frameIn,
        decompressedOffset: this.frameOut,
        decompressedSize: size,
      });
      return true;
    }
    if (avail < 3) return false;
    const bh = b[p] | (b[p + 1] << 8) | (b[p + 2] << 16);
    const type = (bh >> 1) & 3;
    const size = bh >>> 3;
    if (type === 3) throw new ZstdFormatError('reserved block type');
    if (size > Math.min(BLOCK_SIZE_MAX, Math.max(h.windowSize, 1)))
      throw new ZstdFormatError(`block of ${size} bytes exceeds the block maximum`);
    const need = 3 + (type === 1 ? 1 : size);
    if (avail < need) return false;
    this.makeRoom();
    const before = this.wpos;
    if (type === 0) this.win.set(b.subarray(p + 3, p + 3 + size), this.wpos);
    else if (type === 1) this.win.fill(b[p + 3], this.wpos, this.wpos + size);
    if (type !== 2) this.wpos += size;
    else {
      const frameSoFar = this.bytesOut - this.frameOut;
      const dst: BlockOutput = {
        dst: this.win,
        op: this.wpos,
        limit: this.wpos + BLOCK_SIZE_MAX,
        windowStart: Math.max(0, this.wpos - frameSoFar),
        windowSize: h.windowSize,
        partial: false,
      };
      this.wpos = this.state.decodeBlock(b, p + 3, p + need, dst);
    }
    const produced = this.wpos - before;
    if (h.contentSize !== undefined && this.bytesOut - this.frameOut + produced > h.contentSize)
      throw new ZstdFormatError('frame decodes to more than its header says');
    if (h.hasChecksum && this.verify) this.hash.update(this.win, before, this.wpos);
    if (produced > 0) out.push(this.win.slice(before, this.wpos));
    this.bytesOut += produced;
    this.lastBlockDone = (bh & 1) === 1;
    this.consume(need);
    return true;
  }

  /** Keeps the last window of output and makes room for one more block. */
  private makeRoom(): void {
    if (this.wpos + BLOCK_SIZE_MAX <= this.win.length) return;
    if (this.win.length < this.winCap) {
      const grown = new Uint8Array(Math.min(this.winCap, Math.max(2 * this.win.length, this.wpos + BLOCK_SIZE_MAX)));
      grown.set(this.win.subarray(0, this.wpos));
      this.win = grown;
      return;
    }
    const keep = Math.min(this.wpos, this.frame!.windowSize);
    this.win.copyWithin(0, this.wpos - keep, this.wpos);
    this.wpos = keep;
  }
}

/** Creates a {@link ZstdStreamDecoder}. */
export function createZstdDecoder(options: ZstdStreamOptions = {}): ZstdStreamDecoder {
  return new ZstdStreamDecoder(options);
}

/**
 * Decodes a zstd stream given as an async sequence of chunks (a file or HTTP body), yielding
 * decoded chunks; throws if the stream is corrupt or ends inside a frame.
 */
export async function* zstdDecompressStream(
  source: AsyncIterable<Uint8Array>,
  options: ZstdStreamOptions = {},
): AsyncGenerator<Uint8Array> {
  const d = new ZstdStreamDecoder(options);
  for await (const chunk of source) {
    for (const piece of d.push(chunk)) yield piece;
  }
  d.end();
}
