/**
 * Checksums zstd:chunked needs on file content, as containers/storage computes them: the
 * rolling checksum that cuts a file into content-defined chunks (bup's rollsum, a 64-byte
 * window, a cut where the low 16 bits of `s2` are all ones: chunks of ~64 KiB that stay the same
 * when bytes before them change), and tar-split's CRC-64 (ISO polynomial) of each member's data.
 *
 * @packageDocumentation
 */

const WINDOW = 64;
const CHAR_OFFSET = 31;
/** Bits of `s2` that must all be ones at a cut (`RollsumBits` in containers/storage). */
export const ROLLSUM_BITS = 16;

/** The rolling checksum (`RollSum` of containers/storage's compressor). */
export class RollSum {
  private s1 = WINDOW * CHAR_OFFSET;
  private s2 = WINDOW * (WINDOW - 1) * CHAR_OFFSET;
  private readonly window = new Uint8Array(WINDOW);
  private wofs = 0;

  /**
   * Rolls over `data[from, to)` and returns the index just past the first byte after which a
   * cut falls, or -1 when none does.
   */
  rollUntilSplit(data: Uint8Array, from: number, to: number): number {
    const mask = 2 ** ROLLSUM_BITS - 1;
    let { s1, s2, wofs } = this;
    const w = this.window;
    for (let i = from; i < to; i++) {
      const add = data[i];
      const drop = w[wofs];
      s1 = (s1 + add - drop) >>> 0;
      s2 = (s2 + s1 - WINDOW * (drop + CHAR_OFFSET)) >>> 0;
      w[wofs] = add;
      wofs = (wofs + 1) & (WINDOW - 1);
      if ((s2 & mask) === mask) {
        this.s1 = s1;
        this.s2 = s2;
        this.wofs = wofs;
        return i + 1;
      }
    }
    this.s1 = s1;
    this.s2 = s2;
    this.wofs = wofs;
    return -1;
  }
}

// CRC-64 with the ISO polynomial, reflected (Go's `crc64.MakeTable(crc64.ISO)`), as two
// 32-bit halves.
const T_HI = new Uint32Array(256);
const T_LO = new Uint32Array(256);
(() => {
  const POLY_HI = 0xd8000000;
  for (let i = 0; i < 256; i++) {
    let hi = 0;
    let lo = i;
    for (let k = 0; k < 8; k++) {
      const bit = lo & 1;
      lo = ((lo >>> 1) | (hi << 31)) >>> 0;
      hi = hi >>> 1;
      if (bit) hi = (hi ^ POLY_HI) >>> 0;
    }
    T_HI[i] = hi;
    T_LO[i] = lo;
  }
})();

/** An incremental CRC-64/ISO (`hash/crc64` with the ISO table). */
export class Crc64 {
  private hi = 0xffffffff;
  private lo = 0xffffffff;

  update(data: Uint8Array): void {
    let { hi, lo } = this;
    for (let i = 0; i < data.length; i++) {
      const idx = (lo ^ data[i]) & 0xff;
      lo = ((lo >>> 8) | (hi << 24)) ^ T_LO[idx];
      hi = (hi >>> 8) ^ T_HI[idx];
    }
    this.hi = hi >>> 0;
    this.lo = lo >>> 0;
  }

  /** The checksum as Go's `Sum(nil)` gives it: 8 bytes, big-endian. */
  digest(): Uint8Array {
    const out = new Uint8Array(8);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, ~this.hi >>> 0);
    dv.setUint32(4, ~this.lo >>> 0);
    return out;
  }
}
