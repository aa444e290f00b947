/**
 * Decoding of one compressed zstd block (RFC 8878 §3.1.1.3): the literals section, the sequences
 * section, and the execution of sequences into the output window. State that carries from block
 * to block within a frame (Huffman table, FSE tables, repeat offsets) lives in {@link ZstdBlockState}.
 *
 * @packageDocumentation
 */
import {
  BackwardBits,
  buildFseTable,
  decodeHuffmanStream,
  readFseTableDescription,
  readHuffmanTable,
  rleFseTable,
  ZstdFormatError,
  type FseTable,
  type HuffmanTable,
} from './entropy.js';

/** Largest decoded size of one block. */
export const BLOCK_SIZE_MAX = 128 * 1024;

const LL_BASE = new Uint32Array([
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 20, 22, 24, 28, 32, 40, 48, 64, 128, 256, 512, 1024,
  2048, 4096, 8192, 16384, 32768, 65536,
]);
const LL_BITS = new Uint8Array([
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
]);
const ML_BASE = new Uint32Array([
  3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33,
  34, 35, 37, 39, 41, 43, 47, 51, 59, 67, 83, 99, 131, 259, 515, 1027, 2051, 4099, 8195, 16387, 32771, 65539,
]);
const ML_BITS = new Uint8Array([
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3,
  3, 4, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
]);
// Predefined distributions (RFC 8878 §3.1.1.3.2.2).
const LL_DEFAULT = [
  4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1, -1, -1, -1, -1,
];
const ML_DEFAULT = [
  1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1,
];
const OF_DEFAULT = [1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1];
const LL_PREDEFINED = buildFseTable(LL_DEFAULT, LL_DEFAULT.length, 6);
const ML_PREDEFINED = buildFseTable(ML_DEFAULT, ML_DEFAULT.length, 6);
const OF_PREDEFINED = buildFseTable(OF_DEFAULT, OF_DEFAULT.length, 5);
const LL_MAX = 35;
const ML_MAX = 52;
const OF_MAX = 31;

/** Where a block's output goes. */
export interface BlockOutput {
  /** The window buffer (one-shot: the whole output). */
  dst: Uint8Array;
  /** Write position. */
  op: number;
  /** Writes stop here: the caller's outputSize or the end of the window buffer. */
  limit: number;
  /** Earliest byte a match may reference (frame start, or start of the kept window). */
  windowStart: number;
  /** Largest match offset allowed (the frame's window size). */
  windowSize: number;
  /** Stop quietly at `limit` instead of failing (partial decoding). */
  partial: boolean;
}

/** Per-frame decoding state. */
export class ZstdBlockState {
  huffman: HuffmanTable | undefined;
  llTable: FseTable | undefined;
  ofTable: FseTable | undefined;
  mlTable: FseTable | undefined;
  rep1 = 1;
  rep2 = 4;
  rep3 = 8;
  private readonly lit = new Uint8Array(BLOCK_SIZE_MAX + 32);
  private readonly bits = new BackwardBits();

  /** Resets the state at the start of a frame. */
  reset(): void {
    this.huffman = this.llTable = this.ofTable = this.mlTable = undefined;
    this.rep1 = 1;
    this.rep2 = 4;
    this.rep3 = 8;
  }

  /**
   * Decodes the compressed block `src[start, end)` into `out`. Returns the new write position;
   * with `out.partial` it may stop at `out.limit` before the block ends.
   */
  decodeBlock(src: Uint8Array, start: number, end: number, out: BlockOutput): number {
    // Literals section.
    let p = start;
    if (p >= end) throw new ZstdFormatError('empty compressed block');
    const b0 = src[p];
    const litType = b0 & 3;
    const sizeFormat = (b0 >> 2) & 3;
    let litSize: number;
    let lit: Uint8Array;
    let litStart = 0;
    if (litType <= 1) {
      if ((sizeFormat & 1) === 0) {
        litSize = b0 >> 3;
        p += 1;
      } else if (sizeFormat === 1) {
        if (p + 2 > end) throw new ZstdFormatError('literals header overruns the block');
        litSize = (b0 >> 4) + (src[p + 1] << 4);
        p += 2;
      } else {
        if (p + 3 > end) throw new ZstdFormatError('literals header overruns the block');
        litSize = (b0 >> 4) + (src[p + 1] << 4) + (src[p + 2] << 12);
        p += 3;
      }
      if (litSize > BLOCK_SIZE_MAX) throw new ZstdFormatError('literals larger than a block');
      if (litType === 0) {
        if (p + litSize > end) throw new ZstdFormatError('raw literals overrun the block');
        lit = src;
        litStart = p;
        p += litSize;
      } else {
        if (p >= end) throw new ZstdFormatError('RLE literals overrun the block');
        lit = this.lit;
        lit.fill(src[p], 0, litSize);
        p += 1;
      }
    } else {
      const hsize = sizeFormat <= 1 ? 3 : sizeFormat === 2 ? 4 : 5;
      if (p + hsize > end) throw new ZstdFormatError('literals header overruns the block');
      const sbits = sizeFormat <= 1 ? 10 : sizeFormat === 2 ? 14 : 18;
      let h = 0;
      for (let i = hsize - 1; i >= 0; i--) h = h * 256 + src[p + i];
      litSize = Math.floor(h / 16) % (1 << sbits);
      const compSize = Math.floor(h / 2 ** (4 + sbits)) % (1 << sbits);
      const streams = sizeFormat === 0 ? 1 : 4;
      p += hsize;
      if (litSize > BLOCK_SIZE_MAX) throw new ZstdFormatError('literals larger than a block');
      const litEnd = p + compSize;
      if (litEnd > end) throw new ZstdFormatError('compressed literals overrun the block');
      if (litType === 2) {
        const [table, next] = readHuffmanTable(src, p, litEnd);
        this.huffman = table;
        p = next;
      } else if (!this.huffman) throw new ZstdFormatError('treeless literals without a previous Huffman table');
      lit = this.lit;
      this.decodeLiterals(src, p, litEnd, litSize, streams);
      p = litEnd;
    }

    // Sequences section header.
    if (p >= end) throw new ZstdFormatError('missing sequences section');
    let nbSeq = src[p++];
    if (nbSeq >= 128) {
      if (nbSeq < 255) {
        if (p >= end) throw new ZstdFormatError('sequence count overruns the block');
        nbSeq = ((nbSeq - 128) << 8) + src[p++];
      } else {
        if (p + 2 > end) throw new ZstdFormatError('sequence count overruns the block');
        nbSeq = src[p] + (src[p + 1] << 8) + 0x7f00;
        p += 2;
      }
    }
    let op = out.op;
    if (nbSeq === 0) {
      if (p !== end) throw new ZstdFormatError('bytes after a block without sequences');
      return this.copyLiterals(lit, litStart, litSize, out, op);
    }
    if (p >= end) throw new ZstdFormatError('missing symbol compression modes');
    const modes = src[p++];
    if ((modes & 3) !== 0) throw new ZstdFormatError('reserved bits set in symbol compression modes');
    [this.llTable, p] = this.table(src, p, end, modes >> 6, LL_PREDEFINED, LL_MAX, 9, this.llTable);
    [this.ofTable, p] = this.table(src, p, end, (modes >> 4) & 3, OF_PREDEFINED, OF_MAX, 8, this.ofTable);
    [this.mlTable, p] = this.table(src, p, end, (modes >> 2) & 3, ML_PREDEFINED, ML_MAX, 9, this.mlTable);

    // Sequences: a backward stream with three interleaved FSE states.
    const bits = this.bits;
    bits.init(src, p, end);
    const ll = this.llTable;
    const of = this.ofTable;
    const ml = this.mlTable;
    let llState = bits.read(ll.accuracyLog);
    let ofState = bits.read(of.accuracyLog);
    let mlState = bits.read(ml.accuracyLog);
    let { rep1, rep2, rep3 } = this;
    const { dst, limit, windowStart, windowSize, partial } = out;
    let litPos = litStart;
    const litEnd = litStart + litSize;
    for (let s = 0; s < nbSeq; s++) {
      const ofCode = of.symbol[ofState];
      const llCode = ll.symbol[llState];
      const mlCode = ml.symbol[mlState];
      if (ofCode > OF_MAX) throw new ZstdFormatError(`offset code ${ofCode}`);
      let offset = ofCode <= 24 ? (1 << ofCode) + bits.read(ofCode) : 2 ** ofCode + bits.readLong(ofCode);
      const mlen = ML_BASE[mlCode] + bits.read(ML_BITS[mlCode]);
      const llen = LL_BASE[llCode] + bits.read(LL_BITS[llCode]);
      if (offset > 3) {
        offset -= 3;
        rep3 = rep2;
        rep2 = rep1;
        rep1 = offset;
      } else {
        // Repeat offsets; with no literals they shift by one, and the third means rep1 - 1.
        const idx = offset - 1 + (llen === 0 ? 1 : 0);
        if (idx === 0) offset = rep1;
        else if (idx === 1) {
          offset = rep2;
          rep2 = rep1;
          rep1 = offset;
        } else if (idx === 2) {
          offset = rep3;
          rep3 = rep2;
          rep2 = rep1;
          rep1 = offset;
        } else {
          offset = rep1 - 1;
          if (offset === 0) throw new ZstdFormatError('repeat offset of 0');
          rep3 = rep2;
          rep2 = rep1;
          rep1 = offset;
        }
      }
      if (s + 1 < nbSeq) {
        llState = ll.baseline[llState] + bits.read(ll.nbBits[llState]);
        mlState = ml.baseline[mlState] + bits.read(ml.nbBits[mlState]);
        ofState = of.baseline[ofState] + bits.read(of.nbBits[ofState]);
      }
      if (bits.pos < 0) throw new ZstdFormatError('sequence stream overread');

      // Execute: literals, then the match.
      if (litPos + llen > litEnd) throw new ZstdFormatError('sequence uses more literals than decoded');
      if (op + llen > limit) {
        if (!partial) throw new ZstdFormatError('output larger than its size');
        dst.set(lit.subarray(litPos, litPos + (limit - op)), op);
        return limit;
      }
      if (llen <= 16) for (let i = 0; i < llen; i++) dst[op + i] = lit[litPos + i];
      else dst.set(lit.subarray(litPos, litPos + llen), op);
      op += llen;
      litPos += llen;
      if (offset > op - windowStart || offset > windowSize)
        throw new ZstdFormatError(`match offset ${offset} beyond the window`);
      let n = mlen;
      let stop = false;
      if (op + n > limit) {
        if (!partial) throw new ZstdFormatError('output larger than its size');
        n = limit - op;
        stop = true;
      }
      let from = op - offset;
      if (n > 32 && offset >= n) {
        dst.copyWithin(op, from, from + n);
        op += n;
      } else {
        const e = op + n;
        while (op < e) dst[op++] = dst[from++];
      }
      if (stop) return op;
    }
    if (bits.pos !== 0) throw new ZstdFormatError('sequence stream does not end with its last sequence');
    this.rep1 = rep1;
    this.rep2 = rep2;
    this.rep3 = rep3;
    return this.copyLiterals(lit, litPos, litEnd - litPos, out, op);
  }

  private copyLiterals(lit: Uint8Array, from: number, n: number, out: BlockOutput, op: number): number {
    if (op + n > out.limit) {
      if (!out.partial) throw new ZstdFormatError('output larger than its size');
      n = out.limit - op;
    }
    out.dst.set(lit.subarray(from, from + n), op);
    return op + n;
  }

  private decodeLiterals(src: Uint8Array, p: number, end: number, size: number, streams: number): void {
    const h = this.huffman as HuffmanTable;
    const bits = this.bits;
    if (streams === 1) {
      bits.init(src, p, end);
      decodeHuffmanStream(h, bits, this.lit, 0, size);
      return;
    }
    if (p + 6 > end) throw new ZstdFormatError('literals jump table overruns the block');
    const s1 = src[p] | (src[p + 1] << 8);
    const s2 = src[p + 2] | (src[p + 3] << 8);
    const s3 = src[p + 4] | (src[p + 5] << 8);
    p += 6;
    const s4 = end - p - s1 - s2 - s3;
    if (s4 < 1) throw new ZstdFormatError('literals streams overrun the block');
    const seg = (size + 3) >> 2;
    const last = size - 3 * seg;
    if (last < 0) throw new ZstdFormatError('too few literals for four streams');
    let at = p;
    const sizes = [s1, s2, s3, s4];
    for (let i = 0; i < 4; i++) {
      bits.init(src, at, at + sizes[i]);
      decodeHuffmanStream(h, bits, this.lit, i * seg, i < 3 ? seg : last);
      at += sizes[i];
    }
  }

  /** Reads the table for one symbol type according to its compression mode. */
  private table(
    src: Uint8Array,
    p: number,
    end: number,
    mode: number,
    predefined: FseTable,
    maxSymbol: number,
    maxLog: number,
    previous: FseTable | undefined,
  ): [FseTable, number] {
    if (mode === 0) return [predefined, p];
    if (mode === 1) {
      if (p >= end) throw new ZstdFormatError('RLE sequence symbol overruns the block');
      if (src[p] > maxSymbol) throw new ZstdFormatError(`RLE sequence symbol ${src[p]} above ${maxSymbol}`);
      return [rleFseTable(src[p]), p + 1];
    }
    if (mode === 2) return readFseTableDescription(src, p, end, maxSymbol, maxLog);
    if (!previous) throw new ZstdFormatError('repeated sequence table without a previous one');
    return [previous, p];
  }
}
