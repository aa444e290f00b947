/**
 * XXH64 (seed 0), for zstd's content checksum (the low 32 bits of the hash of a frame's decoded
 * bytes). 64-bit arithmetic is done on pairs of 32-bit halves: BigInt would be ~20× slower.
 *
 * @packageDocumentation
 */

// Primes as [high, low] 32-bit halves.
const P1H = 0x9e3779b1, P1L = 0x85ebca87;
const P2H = 0xc2b2ae3d, P2L = 0x27d4eb4f;
const P3H = 0x165667b1, P3L = 0x9e3779f9;
const P4H = 0x85ebca77, P4L = 0xc2b2ae63;
const P5H = 0x27d4eb2f, P5L = 0x165667c5;

// 16-bit halves of the low words of P1 and P2, for the inlined stripe loop.
const P1L1 = P1L >>> 16, P1L0 = P1L & 0xffff;
const P2L1 = P2L >>> 16, P2L0 = P2L & 0xffff;

// Results of the 64-bit helpers (no allocation per operation).
let rh = 0;
let rl = 0;

function mul(ah: number, al: number, bh: number, bl: number): void {
  // (ah·2^32 + al)(bh·2^32 + bl) mod 2^64 = al·bl + ((ah·bl + al·bh) mod 2^32)·2^32; the high
  // word of al·bl comes from 16-bit halves.
  const a1 = al >>> 16, a0 = al & 0xffff, b1 = bl >>> 16, b0 = bl & 0xffff;
  const m1 = a1 * b0;
  const m2 = a0 * b1;
  const mid = ((a0 * b0) >>> 16) + (m1 & 0xffff) + (m2 & 0xffff);
  const hi = a1 * b1 + (m1 >>> 16) + (m2 >>> 16) + (mid >>> 16);
  rh = (hi + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
  rl = Math.imul(al, bl) >>> 0;
}

function add(ah: number, al: number, bh: number, bl: number): void {
  const l = al + bl;
  rl = l >>> 0;
  rh = (ah + bh + (l > 0xffffffff ? 1 : 0)) >>> 0;
}

function rotl(h: number, l: number, n: number): void {
  if (n === 32) {
    rh = l;
    rl = h;
    return;
  }
  if (n > 32) {
    const t = h;
    h = l;
    l = t;
    n -= 32;
  }
  rh = ((h << n) | (l >>> (32 - n))) >>> 0;
  rl = ((l << n) | (h >>> (32 - n))) >>> 0;
}

/** acc = rotl(acc + input * P2, 31) * P1 */
function round(ah: number, al: number, ih: number, il: number): void {
  mul(ih, il, P2H, P2L);
  add(ah, al, rh, rl);
  rotl(rh, rl, 31);
  mul(rh, rl, P1H, P1L);
}

/** Incremental XXH64 with seed 0. */
export class Xxh64 {
  private readonly v = new Uint32Array(8);
  private readonly mem = new Uint8Array(32);
  private memSize = 0;
  private total = 0;

  constructor() {
    this.reset();
  }

  /** Starts a new hash. */
  reset(): void {
    const v = this.v;
    add(P1H, P1L, P2H, P2L);
    v[0] = rh;
    v[1] = rl;
    v[2] = P2H;
    v[3] = P2L;
    v[4] = 0;
    v[5] = 0;
    // 0 - P1 (P1's low word is not 0, so the borrow always reaches the high word)
    v[6] = ~P1H >>> 0;
    v[7] = (0 - P1L) >>> 0;
    this.memSize = 0;
    this.total = 0;
  }

  /** One 32-byte stripe: each lane acc = rotl(acc + input * P2, 31) * P1, inlined (the hot loop). */
  private stripe(b: Uint8Array, p: number): void {
    const v = this.v;
    for (let k = 0; k < 4; k++) {
      const q = p + k * 8;
      const il = (b[q] | (b[q + 1] << 8) | (b[q + 2] << 16) | (b[q + 3] << 24)) >>> 0;
      const ih = (b[q + 4] | (b[q + 5] << 8) | (b[q + 6] << 16) | (b[q + 7] << 24)) >>> 0;
      // input * P2
      let a1 = il >>> 16, a0 = il & 0xffff;
      let m1 = a1 * P2L0;
      let m2 = a0 * P2L1;
      let mid = ((a0 * P2L0) >>> 16) + (m1 & 0xffff) + (m2 & 0xffff);
      let hi = (a1 * P2L1 + (m1 >>> 16) + (m2 >>> 16) + (mid >>> 16) + Math.imul(ih, P2L) + Math.imul(il, P2H)) >>> 0;
      let lo = Math.imul(il, P2L) >>> 0;
      // + acc
      const sl = v[2 * k + 1] + lo;
      lo = sl >>> 0;
      hi = (v[2 * k] + hi + (sl > 0xffffffff ? 1 : 0)) >>> 0;
      // rotl 31
      const rh2 = ((hi << 31) | (lo >>> 1)) >>> 0;
      const rl2 = ((lo << 31) | (hi >>> 1)) >>> 0;
      // * P1
      a1 = rl2 >>> 16;
      a0 = rl2 & 0xffff;
      m1 = a1 * P1L0;
      m2 = a0 * P1L1;
      mid = ((a0 * P1L0) >>> 16) + (m1 & 0xffff) + (m2 & 0xffff);
      v[2 * k] = a1 * P1L1 + (m1 >>> 16) + (m2 >>> 16) + (mid >>> 16) + Math.imul(rh2, P1L) + Math.imul(rl2, P1H);
      v[2 * k + 1] = Math.imul(rl2, P1L);
    }
  }

  /** Adds `b[start, end)`. */
  update(b: Uint8Array, start = 0, end = b.length): void {
    this.total += end - start;
    let p = start;
    if (this.memSize > 0) {
      const n = Math.min(32 - this.memSize, end - p);
      this.mem.set(b.subarray(p, p + n), this.memSize);
      this.memSize += n;
      p += n;
      if (this.memSize < 32) return;
      this.stripe(this.mem, 0);
      this.memSize = 0;
    }
    for (; p + 32 <= end; p += 32) this.stripe(b, p);
    if (p < end) {
      this.mem.set(b.subarray(p, end), 0);
      this.memSize = end - p;
    }
  }

  /** The low 32 bits of the hash, as zstd stores it. */
  digest32(): number {
    const v = this.v;
    let h: number, l: number;
    if (this.total >= 32) {
      rotl(v[0], v[1], 1);
      let sh = rh, sl = rl;
      rotl(v[2], v[3], 7);
      add(sh, sl, rh, rl);
      sh = rh; sl = rl;
      rotl(v[4], v[5], 12);
      add(sh, sl, rh, rl);
      sh = rh; sl = rl;
      rotl(v[6], v[7], 18);
      add(sh, sl, rh, rl);
      h = rh;
      l = rl;
      for (let k = 0; k < 4; k++) {
        round(0, 0, v[2 * k], v[2 * k + 1]);
        h = (h ^ rh) >>> 0;
        l = (l ^ rl) >>> 0;
        mul(h, l, P1H, P1L);
        add(rh, rl, P4H, P4L);
        h = rh;
        l = rl;
      }
    } else {
      h = P5H;
      l = P5L;
    }
    add(h, l, Math.floor(this.total / 2 ** 32) >>> 0, this.total >>> 0);
    h = rh;
    l = rl;
    const m = this.mem;
    const n = this.memSize;
    let p = 0;
    for (; p + 8 <= n; p += 8) {
      const il = (m[p] | (m[p + 1] << 8) | (m[p + 2] << 16) | (m[p + 3] << 24)) >>> 0;
      const ih = (m[p + 4] | (m[p + 5] << 8) | (m[p + 6] << 16) | (m[p + 7] << 24)) >>> 0;
      round(0, 0, ih, il);
      h = (h ^ rh) >>> 0;
      l = (l ^ rl) >>> 0;
      rotl(h, l, 27);
      mul(rh, rl, P1H, P1L);
      add(rh, rl, P4H, P4L);
      h = rh;
      l = rl;
    }
    if (p + 4 <= n) {
      const w = (m[p] | (m[p + 1] << 8) | (m[p + 2] << 16) | (m[p + 3] << 24)) >>> 0;
      mul(0, w, P1H, P1L);
      h = (h ^ rh) >>> 0;
      l = (l ^ rl) >>> 0;
      rotl(h, l, 23);
      mul(rh, rl, P2H, P2L);
      add(rh, rl, P3H, P3L);
      h = rh;
      l = rl;
      p += 4;
    }
    for (; p < n; p++) {
      mul(0, m[p], P5H, P5L);
      h = (h ^ rh) >>> 0;
      l = (l ^ rl) >>> 0;
      rotl(h, l, 11);
      mul(rh, rl, P1H, P1L);
      h = rh;
      l = rl;
    }
    // Avalanche: h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32.
    l = (l ^ (h >>> 1)) >>> 0;
    mul(h, l, P2H, P2L);
    h = rh;
    l = (rl ^ ((rl >>> 29) | (rh << 3))) >>> 0;
    h = (h ^ (h >>> 29)) >>> 0;
    mul(h, l, P3H, P3L);
    return (rl ^ rh) >>> 0;
  }
}
