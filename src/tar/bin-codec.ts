/**
 * A small binary writer/reader for the stored indexes: LEB128 varints (up to 2^53), zigzag
 * signed numbers, length-prefixed strings and bytes. The reader bounds every length by what is
 * left, so a damaged index fails cleanly instead of allocating or reading out of bounds.
 *
 * @packageDocumentation
 */

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** Appends values to a growing buffer. */
export class BinWriter {
  private buf = new Uint8Array(1 << 16);
  private n = 0;

  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.n + k) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.n++] = v;
  }

  /** An unsigned integer below 2^53. */
  uint(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`BinWriter.uint(${v})`);
    this.room(8);
    while (v >= 0x80) {
      this.buf[this.n++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.n++] = v;
  }

  /** A signed integer of magnitude below 2^52. */
  int(v: number): void {
    this.uint(v < 0 ? -2 * v - 1 : 2 * v);
  }

  bytes(b: Uint8Array): void {
    this.uint(b.length);
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }

  str(s: string): void {
    this.bytes(enc.encode(s));
  }

  /** The bytes written so far. */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.n);
  }
}

/** Thrown by {@link BinReader} on malformed input; callers wrap it in their own error. */
export class BinFormatError extends Error {}

/** Reads what {@link BinWriter} wrote. */
export class BinReader {
  private p = 0;
  constructor(private readonly buf: Uint8Array) {}

  get remaining(): number {
    return this.buf.length - this.p;
  }

  u8(): number {
    if (this.p >= this.buf.length) throw new BinFormatError('unexpected end');
    return this.buf[this.p++];
  }

  uint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      v += (b & 0x7f) * mul;
      if (!(b & 0x80)) {
        if (!Number.isSafeInteger(v)) throw new BinFormatError('number too large');
        return v;
      }
      mul *= 0x80;
    }
    throw new BinFormatError('varint too long');
  }

  int(): number {
    const z = this.uint();
    return z % 2 ? -(z + 1) / 2 : z / 2;
  }

  bytes(): Uint8Array {
    const n = this.uint();
    if (n > this.remaining) throw new BinFormatError('length past the end');
    const b = this.buf.subarray(this.p, this.p + n);
    this.p += n;
    return b;
  }

  str(): string {
    try {
      return dec.decode(this.bytes());
    } catch (err) {
      if (err instanceof BinFormatError) throw err;
      throw new BinFormatError('bad UTF-8');
    }
  }

  /** A count of items that each take at least `minBytes`, bounded by what is left. */
  count(minBytes: number): number {
    const n = this.uint();
    if (n * minBytes > this.remaining) throw new BinFormatError('count past the end');
    return n;
  }
}
