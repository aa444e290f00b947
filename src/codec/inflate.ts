/**
 * A bounded raw-deflate (RFC 1951) decoder that writes into one output buffer of a known size
 * and can stop as soon as that buffer is full.
 *
 * Node's zlib cannot do the second part: `inflateRawSync` with `maxOutputLength` throws instead
 * of returning the first `outputSize` bytes, so EROFS partial decoding (a cluster of which only
 * the head is wanted) needs a decoder of its own. It is also the fallback when zlib refuses.
 *
 * Huffman codes are decoded through a 2^10-entry table for codes of at most 10 bits; longer codes
 * (rare symbols) take the canonical bit-by-bit path (as in zlib's puff.c), which keeps table
 * building cheap for the many small blocks of 4–64 KiB clusters.
 *
 * @packageDocumentation
 */
import { CorruptCompressedDataError } from './errors.js';

const MAX_BITS = 15;
const ROOT_BITS = 10;
const ROOT_SIZE = 1 << ROOT_BITS;

/** Base lengths and extra bits of length symbols 257..285. */
const LEN_BASE = new Uint16Array([3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]);
const LEN_EXTRA = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]);
/** Base distances and extra bits of distance symbols 0..29. */
const DIST_BASE = new Uint16Array([1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]);
const DIST_EXTRA = new Uint8Array([0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]);
/** Order in which code-length code lengths are stored in a dynamic block header. */
const CLEN_ORDER = new Uint8Array([16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]);

/** A canonical Huffman code: a root lookup table plus the counts/symbols of the slow path. */
interface Huffman {
  /** `symbol << 4 | length` for codes of at most ROOT_BITS bits, 0 for a prefix of a longer code. */
  table: Int32Array;
  /** Number of codes of each length 0..15. */
  count: Uint16Array;
  /** Symbols in canonical order. */
  symbol: Uint16Array;
}

function newHuffman(nsym: number): Huffman {
  return { table: new Int32Array(ROOT_SIZE), count: new Uint16Array(MAX_BITS + 1), symbol: new Uint16Array(nsym) };
}

const offs = new Uint16Array(MAX_BITS + 2);

/** Builds `h` from code lengths; false when the lengths over-subscribe the code space. */
function buildHuffman(h: Huffman, lengths: Uint8Array, n: number): boolean {
  const { table, count, symbol } = h;
  count.fill(0);
  for (let i = 0; i < n; i++) count[lengths[i]]++;
  count[0] = 0;
  let left = 1;
  for (let len = 1; len <= MAX_BITS; len++) {
    left = (left << 1) - count[len];
    if (left < 0) return false;
  }
  // Incomplete codes are accepted (zlib does for a lone distance code); an unused code is caught
  // when it is met while decoding.
  offs[1] = 0;
  for (let len = 1; len < MAX_BITS; len++) offs[len + 1] = offs[len] + count[len];
  for (let i = 0; i < n; i++) if (lengths[i] !== 0) symbol[offs[lengths[i]]++] = i;
  table.fill(0);
  let code = 0;
  let k = 0;
  for (let len = 1; len <= ROOT_BITS; len++) {
    for (let c = 0; c < count[len]; c++) {
      // Deflate sends codes most-significant bit first into an LSB-first bit stream: index the
      // table by the bit-reversed code.
      let rev = 0;
      for (let b = 0, x = code; b < len; b++, x >>>= 1) rev = (rev << 1) | (x & 1);
      const entry = (symbol[k++] << 4) | len;
      for (let j = rev; j < ROOT_SIZE; j += 1 << len) table[j] = entry;
      code++;
    }
    code <<= 1;
  }
  return true;
}

let fixedLit: Huffman | undefined;
let fixedDist: Huffman | undefined;

function fixedTables(): [Huffman, Huffman] {
  if (!fixedLit || !fixedDist) {
    const l = new Uint8Array(288);
    l.fill(8, 0, 144);
    l.fill(9, 144, 256);
    l.fill(7, 256, 280);
    l.fill(8, 280, 288);
    fixedLit = newHuffman(288);
    buildHuffman(fixedLit, l, 288);
    const d = new Uint8Array(30).fill(5);
    fixedDist = newHuffman(30);
    buildHuffman(fixedDist, d, 30);
  }
  return [fixedLit, fixedDist];
}

/** Options of {@link inflateRaw}. */
export interface InflateRawOptions {
  /** Return once `outputSize` bytes are produced, even before the stream's final block ends. */
  partial?: boolean;
}

/**
 * Decodes a raw deflate stream into exactly `outputSize` bytes, or throws
 * {@link CorruptCompressedDataError} (codec `deflate`). Without `partial` the stream must end (its
 * final block) exactly when `outputSize` bytes are produced; bytes after the final block are
 * ignored, as zlib and the kernel do.
 */
export function inflateRaw(input: Uint8Array, outputSize: number, options: InflateRawOptions = {}): Uint8Array {
  return new Inflater(input, outputSize, options.partial === true).run();
}

class Inflater {
  private ip = 0;
  private bitBuf = 0;
  private bitCnt = 0;
  private op = 0;
  private readonly out: Uint8Array;
  private readonly inLen: number;
  private lit = newHuffman(288);
  private dist = newHuffman(30);

  constructor(
    private readonly input: Uint8Array,
    private readonly outputSize: number,
    private readonly partial: boolean,
  ) {
    this.out = new Uint8Array(outputSize);
    this.inLen = input.length;
  }

  private corrupt(reason: string): CorruptCompressedDataError {
    return new CorruptCompressedDataError('deflate', reason, { offset: this.consumed(), outputOffset: this.op });
  }

  /** Bytes of input consumed so far (rounded up); more than the input means it was truncated. */
  private consumed(): number {
    return Math.ceil((this.ip * 8 - this.bitCnt) / 8);
  }

  /**
   * Makes at least `n` (≤ 24) bits available. Past the end of the input it shifts in zeros (so a
   * lookahead near the end works) but refuses to go more than 4 bytes past: those zeros are never
   * consumed by valid data, and {@link checkNotTruncated} catches a stream that did consume them.
   */
  private need(n: number): void {
    while (this.bitCnt < n) {
      if (this.ip < this.inLen) this.bitBuf |= this.input[this.ip] << this.bitCnt;
      else if (this.ip >= this.inLen + 4) throw this.corrupt('input ends inside the stream');
      this.ip++;
      this.bitCnt += 8;
    }
  }

  private bits(n: number): number {
    this.need(n);
    const v = this.bitBuf & ((1 << n) - 1);
    this.bitBuf >>>= n;
    this.bitCnt -= n;
    return v;
  }

  private checkNotTruncated(): void {
    if (this.ip * 8 - this.bitCnt > this.inLen * 8) throw this.corrupt('input ends inside the stream');
  }

  /** Decodes one symbol of `h`. */
  private decode(h: Huffman): number {
    this.need(MAX_BITS);
    const e = h.table[this.bitBuf & (ROOT_SIZE - 1)];
    if (e !== 0) {
      const len = e & 15;
      this.bitBuf >>>= len;
      this.bitCnt -= len;
      return e >>> 4;
    }
    // Canonical decoding, one bit at a time, for codes longer than the table.
    let code = 0;
    let first = 0;
    let index = 0;
    let buf = this.bitBuf;
    for (let len = 1; len <= MAX_BITS; len++) {
      code |= buf & 1;
      buf >>>= 1;
      const count = h.count[len];
      if (code - count < first) {
        this.bitBuf = buf;
        this.bitCnt -= len;
        return h.symbol[index + (code - first)];
      }
      index += count;
      first = (first + count) << 1;
      code <<= 1;
    }
    throw this.corrupt('invalid Huffman code');
  }

  run(): Uint8Array {
    const { out, outputSize, partial } = this;
    if (partial && outputSize === 0) return out;
    for (;;) {
      const final = this.bits(1);
      const type = this.bits(2);
      if (type === 0) this.stored();
      else if (type === 1) {
        const [l, d] = fixedTables();
        this.codes(l, d);
      } else if (type === 2) {
        this.dynamic();
        this.codes(this.lit, this.dist);
      } else throw this.corrupt('invalid block type 3');
      this.checkNotTruncated();
      if (partial && this.op === outputSize) return out;
      if (final) {
        if (this.op !== outputSize) throw this.corrupt(`stream decodes to ${this.op} bytes, expected ${outputSize}`);
        return out;
      }
    }
  }

  private stored(): void {
    // Skip to a byte boundary; whole bytes still in the bit buffer are given back.
    this.bitBuf = 0;
    this.ip -= this.bitCnt >>> 3;
    this.bitCnt = 0;
    if (this.ip + 4 > this.inLen) throw this.corrupt('input ends inside a stored block header');
    const { input } = this;
    const len = input[this.ip] | (input[this.ip + 1] << 8);
    const nlen = input[this.ip + 2] | (input[this.ip + 3] << 8);
    if ((len ^ 0xffff) !== nlen) throw this.corrupt('stored block length check failed');
    this.ip += 4;
    let n = len;
    if (this.op + n > this.outputSize) {
      if (!this.partial) throw this.corrupt(`stored block overruns the output size ${this.outputSize}`);
      n = this.outputSize - this.op;
    }
    if (this.ip + n > this.inLen) throw this.corrupt('input ends inside a stored block');
    this.out.set(input.subarray(this.ip, this.ip + n), this.op);
    this.ip += n;
    this.op += n;
  }

  private dynamic(): void {
    const hlit = this.bits(5) + 257;
    const hdist = this.bits(5) + 1;
    const hclen = this.bits(4) + 4;
    if (hlit > 286 || hdist > 30) throw this.corrupt('too many length or distance codes');
    const lengths = new Uint8Array(320);
    for (let i = 0; i < hclen; i++) lengths[CLEN_ORDER[i]] = this.bits(3);
    const clen = newHuffman(19);
    if (!buildHuffman(clen, lengths, 19)) throw this.corrupt('over-subscribed code length code');
    lengths.fill(0, 0, 19);
    const total = hlit + hdist;
    let i = 0;
    while (i < total) {
      const sym = this.decode(clen);
      if (sym < 16) {
        lengths[i++] = sym;
        continue;
      }
      let value = 0;
      let rep: number;
      if (sym === 16) {
        if (i === 0) throw this.corrupt('repeat of a code length with none before it');
        value = lengths[i - 1];
        rep = 3 + this.bits(2);
      } else if (sym === 17) rep = 3 + this.bits(3);
      else rep = 11 + this.bits(7);
      if (i + rep > total) throw this.corrupt('code lengths overrun the header');
      lengths.fill(value, i, i + rep);
      i += rep;
    }
    if (lengths[256] === 0) throw this.corrupt('no end-of-block code');
    if (!buildHuffman(this.lit, lengths, hlit)) throw this.corrupt('over-subscribed literal/length code');
    if (!buildHuffman(this.dist, lengths.subarray(hlit, total), hdist)) throw this.corrupt('over-subscribed distance code');
  }

  /** Decodes the Huffman-coded body of a block until its end-of-block symbol (or a full output in partial mode). */
  private codes(lit: Huffman, dist: Huffman): void {
    const { out, outputSize, partial } = this;
    let op = this.op;
    try {
      for (;;) {
        if (partial && op === outputSize) return;
        const sym = this.decode(lit);
        if (sym < 256) {
          if (op >= outputSize) throw this.corrupt(`literal overruns the output size ${outputSize}`);
          out[op++] = sym;
          continue;
        }
        if (sym === 256) return;
        const li = sym - 257;
        if (li >= 29) throw this.corrupt(`invalid length symbol ${sym}`);
        let len = LEN_BASE[li] + this.bits(LEN_EXTRA[li]);
        const ds = this.decode(dist);
        if (ds >= 30) throw this.corrupt(`invalid distance symbol ${ds}`);
        const d = DIST_BASE[ds] + this.bits(DIST_EXTRA[ds]);
        if (d > op) throw this.corrupt(`distance ${d} points before the start of the output`);
        if (op + len > outputSize) {
          if (!partial) throw this.corrupt(`match overruns the output size ${outputSize}`);
          len = outputSize - op;
        }
        let from = op - d;
        if (len > 32 && d >= len) {
          out.copyWithin(op, from, from + len);
          op += len;
        } else {
          const end = op + len;
          while (op < end) out[op++] = out[from++];
        }
      }
    } finally {
      this.op = op;
    }
  }
}
