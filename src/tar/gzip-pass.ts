/**
 * The state machine of the gzip pass (see `gzip-indexer.ts`), apart so that the worker thread
 * (`gzip-pass-worker.ts`) runs the same code without importing the indexer that starts it.
 *
 * @packageDocumentation
 */
import { crc32 } from 'node:zlib';
import * as pako from 'pako';
import { GZIP_TRAILER, parseGzipHeader, readGzipTrailer } from '../codec/gzip-member.js';
import { NativeBlockInflater, matchBoundaryBits } from '../codec/gzip-native-scan.js';
import { CorruptGzipError } from './errors.js';
import { WINDOW_SIZE, packWindow, type GzipCheckpoint, type GzipIndex } from './gzip-index.js';
import { TarFeeder } from './tar-feeder.js';
import type { TarParser } from './tar-parser.js';

/**
 * Most output allowed between two block boundaries. zlib's blocks hold at most 16K symbols
 * (≤ 4 MiB of output); a stream without a boundary for this long is refused, since reading it
 * randomly would need this much memory per span.
 */
export const MAX_CHECKPOINT_SPAN = 128 * 1024 * 1024;

/**
 * Which inflater a pass uses: `native` (zlib stepped block by block) when this Node has it,
 * unless `pako` is asked for.
 */
export function passInflater(wanted: 'native' | 'pako' | undefined): 'native' | 'pako' {
  if (wanted === 'pako') return 'pako';
  return NativeBlockInflater.available() ? 'native' : 'pako';
}

const OUT_CHUNK = 256 * 1024;

type Phase = 'header' | 'deflate' | 'trailer' | 'padding';

/** The pass's state machine: feed compressed pieces in order, then {@link finish}. */
export class GzipPass {
  private phase: Phase = 'header';
  private readonly strm = new pako.ZStream();
  private readonly out = new Uint8Array(OUT_CHUNK);
  private carry: Uint8Array | undefined;
  /** Compressed offset of the start of the next piece. */
  consumed = 0;
  private members = 0;
  private memberCrc = 0;
  private memberSize = 0;
  /** CRC-32 of the output since the last checkpoint. */
  private spanCrc = 0;
  /** Output bytes handed on so far. */
  private total = 0;
  private readonly history = new Uint8Array(WINDOW_SIZE * 2);
  private historyLen = 0;
  readonly checkpoints: GzipCheckpoint[] = [];
  private readonly feeder: TarFeeder;
  // Native inflater state: the inflater, bytes in `out`, the byte before the current input
  // position (for boundary candidates at a piece start), and the pending boundary candidate.
  private native: NativeBlockInflater | undefined;
  private outPos = 0;
  private lastByte = 0;
  private cand: Candidate | undefined;

  constructor(
    private readonly span: number,
    private readonly parser: TarParser,
    private readonly engine: 'native' | 'pako' = 'pako',
  ) {
    this.feeder = new TarFeeder(parser);
  }

  push(piece: Uint8Array): void {
    let chunk = piece;
    let at = this.consumed;
    this.consumed += piece.length;
    if (this.carry) {
      const joined = new Uint8Array(this.carry.length + piece.length);
      joined.set(this.carry);
      joined.set(piece, this.carry.length);
      at -= this.carry.length;
      chunk = joined;
      this.carry = undefined;
    }
    let p = 0;
    while (p < chunk.length) {
      switch (this.phase) {
        case 'header': {
          const h = parseGzipHeader(chunk.subarray(p));
          if (!h.ok && h.needMore) {
            if (chunk.length - p > 16 * 1024 * 1024) throw new CorruptGzipError('gzip header too long', at + p);
            this.carry = chunk.slice(p);
            return;
          }
          if (!h.ok) {
            if (this.members > 0 && chunk[p] === 0) {
              this.phase = 'padding';
              continue;
            }
            throw new CorruptGzipError(h.reason, at + p);
          }
          p += h.length;
          this.startMember(at + p);
          break;
        }
        case 'deflate':
          p = this.inflate(chunk, p, at);
          break;
        case 'trailer': {
          if (chunk.length - p < GZIP_TRAILER) {
            this.carry = chunk.slice(p);
            return;
          }
          const t = readGzipTrailer(chunk, p);
          if (t.crc !== this.memberCrc >>> 0)
            throw new CorruptGzipError('CRC-32 mismatch', at + p, { data: { member: this.members } });
          if (t.isize !== this.memberSize % 0x100000000)
            throw new CorruptGzipError('length mismatch', at + p + 4, { data: { member: this.members } });
          p += GZIP_TRAILER;
          this.phase = 'header';
          break;
        }
        case 'padding':
          for (; p < chunk.length; p++)
            if (chunk[p] !== 0) throw new CorruptGzipError('garbage after the last member', at + p);
          break;
      }
    }
    if (chunk.length) this.lastByte = chunk[chunk.length - 1];
  }

  private startMember(deflateAt: number): void {
    this.members++;
    this.memberCrc = 0;
    this.memberSize = 0;
    if (this.engine === 'native') {
      this.native?.close();
      this.native = new NativeBlockInflater();
      this.outPos = 0;
    } else {
      const s = this.strm;
      const rc = this.members === 1 ? pako.zlibInflateInit2(s, -15) : pako.zlibInflateReset(s);
      if (rc !== pako.Z_OK) throw new CorruptGzipError(`inflate init failed (${rc})`, deflateAt);
      s.output = this.out;
      s.next_out = 0;
      s.avail_out = this.out.length;
    }
    this.phase = 'deflate';
    // Always a checkpoint at offset 0; later members only when one is due.
    if (this.checkpoints.length === 0 || this.total - this.lastOut() >= this.span) this.addCheckpoint(deflateAt * 8);
  }

  /** A checkpoint at `bit` for the output so far (which must have been flushed). */
  private addCheckpoint(bit: number): void {
    this.closeSpan();
    this.checkpoints.push({ bit, out: this.total, packedWindow: packWindow(this.window()), crc: 0 });
  }

  private closeSpan(): void {
    const last = this.checkpoints[this.checkpoints.length - 1];
    if (last) last.crc = this.spanCrc >>> 0;
    this.spanCrc = 0;
  }

  private lastOut(): number {
    return this.checkpoints.length ? this.checkpoints[this.checkpoints.length - 1].out : 0;
  }

  /** Inflates from chunk[p] until the member ends or the chunk is used up; returns the new p. */
  private inflate(chunk: Uint8Array, p: number, at: number): number {
    return this.engine === 'native' ? this.inflateNative(chunk, p, at) : this.inflatePako(chunk, p, at);
  }

  /**
   * The native path: zlib stops at each block boundary but only tells the byte position, so a
   * due checkpoint starts as a candidate whose bit position is settled once the next block's
   * output is known ({@link matchBoundaryBits}).
   */
  private inflateNative(chunk: Uint8Array, p: number, at: number): number {
    const z = this.native!;
    let inPos = p;
    while (inPos < chunk.length) {
      let r;
      try {
        r = z.write(chunk, inPos, chunk.length - inPos, this.out, this.outPos, this.out.length - this.outPos);
      } catch (err) {
        throw new CorruptGzipError(`bad deflate data: ${(err as Error).message}`, at + inPos, { cause: err });
      }
      if (this.cand && !this.cand.dropped) this.cand.capture(chunk.subarray(inPos, inPos + r.inUsed));
      inPos += r.inUsed;
      this.outPos += r.outUsed;
      if (r.ended) {
        this.flush();
        this.settleCandidate();
        this.phase = 'trailer';
        return inPos;
      }
      if (this.outPos === this.out.length) this.flush();
      if (r.boundary) {
        this.flush();
        this.settleCandidate();
        if (!this.cand && this.total - this.lastOut() >= this.span) {
          const before = inPos > 0 ? chunk[inPos - 1] : this.lastByte;
          this.cand = new Candidate(at + inPos, before, this.total, this.window(), this.spanCrc);
        }
      } else if (this.total + this.outPos - this.lastOut() > MAX_CHECKPOINT_SPAN) {
        throw new CorruptGzipError(
          `no deflate block boundary within ${MAX_CHECKPOINT_SPAN} bytes of output`,
          at + inPos,
        );
      }
    }
    return chunk.length;
  }

  /** Turns the pending candidate into a checkpoint when its bit position is certain. */
  private settleCandidate(): void {
    const c = this.cand;
    if (!c) return;
    this.cand = undefined;
    const blockLength = this.total - c.out;
    if (c.dropped || blockLength === 0) return;
    const k = matchBoundaryBits(c.byteBefore, c.compressed(), c.window, c.expected(), blockLength);
    if (k === undefined) return;
    const last = this.checkpoints[this.checkpoints.length - 1];
    if (last) last.crc = c.crcBefore >>> 0;
    this.checkpoints.push({ bit: c.byte * 8 - k, out: c.out, packedWindow: packWindow(c.window), crc: 0 });
    this.spanCrc = c.crcSince;
  }

  private inflatePako(chunk: Uint8Array, p: number, at: number): number {
    const s = this.strm;
    s.input = chunk;
    s.next_in = p;
    s.avail_in = chunk.length - p;
    for (;;) {
      const rc = pako.zlibInflate(s, pako.Z_BLOCK);
      if (rc === pako.Z_STREAM_END) {
        this.flush();
        this.phase = 'trailer';
        return s.next_in;
      }
      if (rc !== pako.Z_OK && rc !== pako.Z_BUF_ERROR) {
        throw new CorruptGzipError(`bad deflate data: ${s.msg || rc}`, at + s.next_in);
      }
      if (s.avail_out === 0) this.flush();
      // At a block boundary (bit 128 of data_type; its low 3 bits are the unused bits of the
      // last byte consumed): a checkpoint when one is due.
      if (s.data_type & 128 && !(s.data_type & 64)) {
        const pending = this.total + s.next_out - this.lastOut();
        if (pending >= this.span) {
          this.flush();
          this.addCheckpoint((at + s.next_in) * 8 - (s.data_type & 7));
        }
      } else if (this.total + s.next_out - this.lastOut() > MAX_CHECKPOINT_SPAN) {
        throw new CorruptGzipError(
          `no deflate block boundary within ${MAX_CHECKPOINT_SPAN} bytes of output`,
          at + s.next_in,
        );
      }
      if (s.avail_in === 0) return chunk.length;
    }
  }

  /** Hands the output gathered so far to the CRC, the tar parser and the window. */
  private flush(): void {
    const s = this.strm;
    const n = this.engine === 'native' ? this.outPos : s.next_out;
    if (n === 0) return;
    const data = this.out.subarray(0, n);
    this.memberCrc = crc32(data, this.memberCrc);
    this.spanCrc = crc32(data, this.spanCrc);
    this.cand?.output(data);
    this.memberSize += n;
    this.total += n;
    this.feeder.push(data);
    this.remember(data);
    if (this.engine === 'native') this.outPos = 0;
    else {
      s.next_out = 0;
      s.avail_out = this.out.length;
    }
  }

  private remember(data: Uint8Array): void {
    if (data.length >= WINDOW_SIZE) {
      this.history.set(data.subarray(data.length - WINDOW_SIZE), 0);
      this.historyLen = WINDOW_SIZE;
      return;
    }
    if (this.historyLen + data.length > this.history.length) {
      this.history.copyWithin(0, this.historyLen - WINDOW_SIZE, this.historyLen);
      this.historyLen = WINDOW_SIZE;
    }
    this.history.set(data, this.historyLen);
    this.historyLen += data.length;
  }

  private window(): Uint8Array {
    return this.history.slice(Math.max(0, this.historyLen - WINDOW_SIZE), this.historyLen);
  }

  finish(blobSize: number): GzipIndex {
    if (this.carry || this.phase === 'deflate' || this.phase === 'trailer' || this.members === 0) {
      throw new CorruptGzipError('stream is truncated', blobSize);
    }
    this.native?.close();
    this.feeder.end();
    this.closeSpan();
    return {
      blobSize,
      tarSize: this.total,
      checkpoints: this.checkpoints,
      tar: { tarSize: this.total, entries: this.parser.entries },
    };
  }
}

/** Most compressed bytes kept for settling a candidate (a longer block is skipped). */
const CANDIDATE_MAX_INPUT = 8 * 1024 * 1024;
/** Output bytes compared when settling a candidate. */
const CANDIDATE_COMPARE = 64 * 1024;

/** A block boundary known to the byte, waiting for the next block to settle its bit. */
class Candidate {
  private readonly inParts: Uint8Array[] = [];
  private inBytes = 0;
  private readonly outParts: Uint8Array[] = [];
  private outBytes = 0;
  /** CRC-32 of the output since the candidate. */
  crcSince = 0;
  dropped = false;

  constructor(
    /** Absolute byte position after the byte holding the boundary. */
    readonly byte: number,
    readonly byteBefore: number,
    readonly out: number,
    readonly window: Uint8Array,
    /** CRC-32 of the span before the candidate. */
    readonly crcBefore: number,
  ) {}

  capture(input: Uint8Array): void {
    this.inBytes += input.length;
    if (this.inBytes > CANDIDATE_MAX_INPUT) {
      this.dropped = true;
      this.inParts.length = 0;
      return;
    }
    this.inParts.push(input.slice());
  }

  output(data: Uint8Array): void {
    this.crcSince = crc32(data, this.crcSince);
    if (this.outBytes >= CANDIDATE_COMPARE) return;
    const part = data.subarray(0, CANDIDATE_COMPARE - this.outBytes).slice();
    this.outParts.push(part);
    this.outBytes += part.length;
  }

  compressed(): Uint8Array {
    return Buffer.concat(this.inParts);
  }

  expected(): Uint8Array {
    return Buffer.concat(this.outParts);
  }
}
