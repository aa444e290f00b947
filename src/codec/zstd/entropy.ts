/**
 * Zstandard entropy coding (RFC 8878 §4.1): the backward bit stream, FSE tables (from a table
 * description or a predefined distribution) and Huffman tables for literals.
 *
 * Every decoding loop is bounded by a count taken from the frame (symbols to produce, table
 * size), and reading past the start of a bit stream yields zeros that the callers detect at the
 * end, so corrupt input cannot make a loop run away.
 *
 * @packageDocumentation
 */

/** Thrown by the entropy layer; the block decoder turns it into a CorruptCompressedDataError. */
export class ZstdFormatError extends Error {}

/** Index of the highest set bit of a positive 32-bit value. */
export function highBit(v: number): number {
  return 31 - Math.clz32(v);
}

/**
 * A bit stream read backwards, from its last bit towards its first, as zstd writes Huffman and
 * sequence streams. The stream is copied into a scratch buffer with 4 zero bytes on each side, so
 * a 3- or 4-byte load never leaves the buffer and bits before the stream's start read as zero.
 */
export class BackwardBits {
  buf = new Uint8Array(1024);
  /** Bits not yet consumed; negative once a reader went past the start. */
  pos = 0;

  /** Starts reading `src[start, end)`; its last byte holds the end marker (highest set bit). */
  init(src: Uint8Array, start: number, end: number): void {
    const len = end - start;
    if (len <= 0) throw new ZstdFormatError('empty bit stream');
    const last = src[end - 1];
    if (last === 0) throw new ZstdFormatError('bit stream without end marker');
    if (this.buf.length < len + 8) this.buf = new Uint8Array(Math.max(len + 8, this.buf.length * 2));
    const buf = this.buf;
    buf[0] = buf[1] = buf[2] = buf[3] = 0;
    buf.set(src.subarray(start, end), 4);
    buf[len + 4] = buf[len + 5] = buf[len + 6] = buf[len + 7] = 0;
    this.pos = (len - 1) * 8 + highBit(last);
  }

  /** Reads `n` ≤ 24 bits. */
  read(n: number): number {
    if (n === 0) return 0;
    const lo = this.pos - n;
    this.pos = lo;
    if (lo < -32) throw new ZstdFormatError('bit stream overread');
    const i = (lo >> 3) + 4;
    const b = this.buf;
    const w = (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> (lo & 7);
    return w & ((1 << n) - 1);
  }

  /** Reads `n` ≤ 31 bits (offsets), high part first as the encoder wrote them. */
  readLong(n: number): number {
    if (n <= 24) return this.read(n);
    const hi = this.read(n - 24);
    return hi * 0x1000000 + this.read(24);
  }
}

/** An FSE decoding table: per state the symbol, the bits to read and the base of the next state. */
export interface FseTable {
  accuracyLog: number;
  symbol: Uint8Array;
  nbBits: Uint8Array;
  baseline: Uint16Array;
}

/** Builds the decoding table of a normalized distribution (`-1` = "less than one"). */
export function buildFseTable(
  norm: Int16Array | number[],
  count: number,
  accuracyLog: number,
  into?: FseTable,
): FseTable {
  const size = 1 << accuracyLog;
  const t: FseTable =
    into && into.symbol.length >= size
      ? { accuracyLog, symbol: into.symbol, nbBits: into.nbBits, baseline: into.baseline }
      : { accuracyLog, symbol: new Uint8Array(size), nbBits: new Uint8Array(size), baseline: new Uint16Array(size) };
  const next = new Uint16Array(count);
  let high = size - 1;
  for (let s = 0; s < count; s++) {
    if (norm[s] === -1) {
      t.symbol[high--] = s;
      next[s] = 1;
    } else next[s] = norm[s];
  }
  const step = (size >> 1) + (size >> 3) + 3;
  const mask = size - 1;
  let pos = 0;
  for (let s = 0; s < count; s++) {
    for (let i = 0; i < norm[s]; i++) {
      t.symbol[pos] = s;
      do pos = (pos + step) & mask;
      while (pos > high);
    }
  }
  if (pos !== 0) throw new ZstdFormatError('FSE distribution does not fill its table');
  for (let u = 0; u < size; u++) {
    const s = t.symbol[u];
    const n = next[s]++;
    const nb = accuracyLog - highBit(n);
    t.nbBits[u] = nb;
    t.baseline[u] = (n << nb) - size;
  }
  return t;
}

/** A one-symbol table (RLE mode): every state yields `symbol` and reads no bits. */
export function rleFseTable(symbol: number): FseTable {
  return { accuracyLog: 0, symbol: Uint8Array.of(symbol), nbBits: new Uint8Array(1), baseline: new Uint16Array(1) };
}

/**
 * Reads an FSE table description (RFC 8878 §4.1.1) at `src[start]`, reading forward, and builds
 * its table. Returns the table and the offset just after the description.
 */
export function readFseTableDescription(
  src: Uint8Array,
  start: number,
  end: number,
  maxSymbol: number,
  maxLog: number,
): [FseTable, number] {
  let bitPos = start * 8;
  const endBits = end * 8;
  // Bytes past `end` (or past the array, which read as undefined → 0) may enter a peek; any read
  // that uses them moves bitPos past endBits and is refused.
  const peek = (n: number): number => {
    const i = bitPos >> 3;
    return ((src[i] | (src[i + 1] << 8) | (src[i + 2] << 16) | (src[i + 3] << 24)) >>> (bitPos & 7)) & ((1 << n) - 1);
  };
  const accuracyLog = peek(4) + 5;
  bitPos += 4;
  if (accuracyLog > maxLog) throw new ZstdFormatError(`FSE accuracy log ${accuracyLog} above ${maxLog}`);
  const norm = new Int16Array(maxSymbol + 1);
  let remaining = (1 << accuracyLog) + 1;
  let threshold = 1 << accuracyLog;
  let nbBits = accuracyLog + 1;
  let symbol = 0;
  while (remaining > 1) {
    if (symbol > maxSymbol) throw new ZstdFormatError('FSE distribution has too many symbols');
    const max = 2 * threshold - 1 - remaining;
    let count: number;
    const low = peek(nbBits - 1);
    if (low < max) {
      count = low;
      bitPos += nbBits - 1;
    } else {
      count = peek(nbBits);
      if (count >= threshold) count -= max;
      bitPos += nbBits;
    }
    if (bitPos > endBits) throw new ZstdFormatError('FSE table description overruns its block');
    count--;
    remaining -= count < 0 ? -count : count;
    norm[symbol++] = count;
    if (count === 0) {
      // A zero probability is followed by 2-bit repeat flags for further zeros.
      for (;;) {
        const rep = peek(2);
        bitPos += 2;
        if (bitPos > endBits) throw new ZstdFormatError('FSE table description overruns its block');
        symbol += rep;
        if (symbol > maxSymbol + 1) throw new ZstdFormatError('FSE distribution has too many symbols');
        if (rep !== 3) break;
      }
    }
    while (remaining < threshold && threshold > 1) {
      nbBits--;
      threshold >>= 1;
    }
  }
  if (remaining !== 1) throw new ZstdFormatError('FSE distribution does not sum to its table size');
  const next = (bitPos + 7) >> 3;
  if (next > end) throw new ZstdFormatError('FSE table description overruns its block');
  return [buildFseTable(norm, symbol, accuracyLog), next];
}

/** A Huffman decoding table for literals: entry = symbol << 4 | code length, indexed by `maxBits` peeked bits. */
export interface HuffmanTable {
  maxBits: number;
  table: Uint16Array;
}

const weightBits = new BackwardBits();

/**
 * Reads a Huffman tree description (RFC 8878 §4.2.1) at `src[start]` and builds its table.
 * Returns the table and the offset just after the description.
 */
export function readHuffmanTable(src: Uint8Array, start: number, end: number): [HuffmanTable, number] {
  if (start >= end) throw new ZstdFormatError('missing Huffman tree description');
  const header = src[start];
  const weights = new Uint8Array(256);
  let numWeights: number;
  let next: number;
  if (header < 128) {
    // FSE-compressed weights: two interleaved states over a backward stream.
    next = start + 1 + header;
    if (header === 0 || next > end) throw new ZstdFormatError('Huffman weights overrun the block');
    const [fse, streamStart] = readFseTableDescription(src, start + 1, next, 255, 6);
    const bits = weightBits;
    bits.init(src, streamStart, next);
    const { symbol, nbBits, baseline, accuracyLog } = fse;
    let s1 = bits.read(accuracyLog);
    let s2 = bits.read(accuracyLog);
    let n = 0;
    for (;;) {
      if (n > 253) throw new ZstdFormatError('too many Huffman weights');
      weights[n++] = symbol[s1];
      s1 = baseline[s1] + bits.read(nbBits[s1]);
      if (bits.pos < 0) {
        weights[n++] = symbol[s2];
        break;
      }
      weights[n++] = symbol[s2];
      s2 = baseline[s2] + bits.read(nbBits[s2]);
      if (bits.pos < 0) {
        weights[n++] = symbol[s1];
        break;
      }
    }
    numWeights = n;
  } else {
    numWeights = header - 127;
    next = start + 1 + ((numWeights + 1) >> 1);
    if (next > end) throw new ZstdFormatError('Huffman weights overrun the block');
    for (let i = 0; i < numWeights; i++) {
      const b = src[start + 1 + (i >> 1)];
      weights[i] = i & 1 ? b & 15 : b >> 4;
    }
  }
  let total = 0;
  for (let i = 0; i < numWeights; i++) {
    if (weights[i] > 11) throw new ZstdFormatError(`Huffman weight ${weights[i]} above 11`);
    if (weights[i] > 0) total += 1 << (weights[i] - 1);
  }
  if (total === 0) throw new ZstdFormatError('Huffman weights are all zero');
  const maxBits = highBit(total) + 1;
  if (maxBits > 11) throw new ZstdFormatError('Huffman code longer than 11 bits');
  const rest = (1 << maxBits) - total;
  if ((rest & (rest - 1)) !== 0) throw new ZstdFormatError('Huffman weights do not form a complete code');
  weights[numWeights] = highBit(rest) + 1;
  const numSymbols = numWeights + 1;

  // Codes with lower weights (longer codes) fill the table first, symbols in increasing order.
  const rankStart = new Uint32Array(13);
  for (let i = 0; i < numSymbols; i++) if (weights[i] > 0) rankStart[weights[i]] += 1 << (weights[i] - 1);
  let acc = 0;
  for (let w = 1; w <= maxBits; w++) {
    const c = rankStart[w];
    rankStart[w] = acc;
    acc += c;
  }
  const table = new Uint16Array(1 << maxBits);
  for (let s = 0; s < numSymbols; s++) {
    const w = weights[s];
    if (w === 0) continue;
    const len = 1 << (w - 1);
    const entry = (s << 4) | (maxBits + 1 - w);
    const from = rankStart[w];
    table.fill(entry, from, from + len);
    rankStart[w] = from + len;
  }
  return [{ maxBits, table }, next];
}

/** Decodes `count` Huffman symbols from one backward stream into `out[at..]`; the stream must end exactly. */
export function decodeHuffmanStream(
  h: HuffmanTable,
  bits: BackwardBits,
  out: Uint8Array,
  at: number,
  count: number,
): void {
  const { table, maxBits } = h;
  const buf = bits.buf;
  const mask = (1 << maxBits) - 1;
  let pos = bits.pos;
  const end = at + count;
  for (let o = at; o < end; o++) {
    const lo = pos - maxBits;
    const i = (lo >> 3) + 4;
    if (i < 0) throw new ZstdFormatError('Huffman stream overread');
    const e = table[((buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16)) >>> (lo & 7)) & mask];
    out[o] = e >>> 4;
    pos -= e & 15;
  }
  bits.pos = pos;
  if (pos !== 0) throw new ZstdFormatError('Huffman stream does not end with its last symbol');
}
