/**
 * LZ4 block encoders (the raw block format EROFS stores in a physical cluster).
 *
 * - `lz4`: `lz4-napi` (lz4_flex, a prebuilt N-API binary, already the native decoder) compresses
 *   on the libuv thread pool; it has no high-compression mode.
 * - `lz4hc`: no maintained npm package without an install script offers LZ4HC block output, so
 *   this file has one: a hash-chain match finder (every candidate of a 4-byte hash within the
 *   64 KiB window, up to a search depth, as LZ4HC levels do) with one step of lazy matching.
 *   Its output is an ordinary LZ4 block that any LZ4 decoder (the kernel's included) reads.
 *
 * Both obey the block format's end rules: the last 5 bytes are literals and no match starts in
 * the last 12 bytes.
 *
 * @packageDocumentation
 */
import { createRequire } from 'node:module';
import { UnsupportedCodecError } from './errors.js';

const MINMATCH = 4;
const LASTLITERALS = 5;
const MFLIMIT = 12;
const MAX_DISTANCE = 65535;
const HASH_LOG = 15;

/** Worst-case size of an LZ4 block for `n` input bytes (`LZ4_compressBound`). */
export function lz4CompressBound(n: number): number {
  return n + Math.floor(n / 255) + 16;
}

function hash4(v: number): number {
  return Math.imul(v, 2654435761) >>> (32 - HASH_LOG);
}

function read32(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

/** Writes sequences into a growing output. */
class SequenceWriter {
  readonly out: Uint8Array;
  pos = 0;

  constructor(n: number) {
    this.out = new Uint8Array(lz4CompressBound(n));
  }

  private length(n: number): void {
    while (n >= 255) {
      this.out[this.pos++] = 255;
      n -= 255;
    }
    this.out[this.pos++] = n;
  }

  /** Literals `src[litStart, litEnd)` then a match of `matchLen` at `offset` back (0: none, the last sequence). */
  sequence(src: Uint8Array, litStart: number, litEnd: number, offset: number, matchLen: number): void {
    const lit = litEnd - litStart;
    const ml = matchLen - MINMATCH;
    const tokenAt = this.pos++;
    this.out[tokenAt] = ((lit >= 15 ? 15 : lit) << 4) | (offset === 0 ? 0 : ml >= 15 ? 15 : ml);
    if (lit >= 15) this.length(lit - 15);
    this.out.set(src.subarray(litStart, litEnd), this.pos);
    this.pos += lit;
    if (offset === 0) return;
    this.out[this.pos++] = offset & 0xff;
    this.out[this.pos++] = offset >>> 8;
    if (ml >= 15) this.length(ml - 15);
  }
}

/**
 * Hash-chain candidates examined per position: 64 compresses a 64 KiB cluster of a binary
 * within 0.3% of 256 (LZ4HC level 9's depth) at about twice the speed.
 */
export const DEFAULT_LZ4HC_DEPTH = 64;

/** Options of {@link lz4hcCompressBlock}. */
export interface Lz4hcOptions {
  /** Candidates examined per position (default {@link DEFAULT_LZ4HC_DEPTH}). */
  depth?: number;
}

/**
 * Compresses `src` (at most 64 KiB windows are referenced; any length) into one LZ4 block with
 * a hash-chain match finder.
 */
export function lz4hcCompressBlock(src: Uint8Array, options: Lz4hcOptions = {}): Uint8Array {
  const n = src.length;
  const w = new SequenceWriter(n);
  if (n < MFLIMIT + 1) {
    w.sequence(src, 0, n, 0, 0);
    return w.out.slice(0, w.pos);
  }
  const depth = options.depth ?? DEFAULT_LZ4HC_DEPTH;
  const head = new Int32Array(1 << HASH_LOG).fill(-1);
  const chain = new Int32Array(n);
  const matchLimit = n - LASTLITERALS; // a match may not extend past this
  const lastStart = n - MFLIMIT; // nor start after this
  let inserted = 0;
  const insertUpTo = (p: number) => {
    for (; inserted < p; inserted++) {
      const h = hash4(read32(src, inserted));
      chain[inserted] = head[h];
      head[h] = inserted;
    }
  };
  // Longest match for position p: [length, distance].
  let bestLen = 0;
  let bestDist = 0;
  const find = (p: number) => {
    insertUpTo(p);
    bestLen = 0;
    bestDist = 0;
    const v = read32(src, p);
    let c = head[hash4(v)];
    let tries = depth;
    while (c >= 0 && p - c <= MAX_DISTANCE && tries-- > 0) {
      if (read32(src, c) === v && src[c + bestLen] === src[p + bestLen]) {
        let len = MINMATCH;
        while (p + len < matchLimit && src[c + len] === src[p + len]) len++;
        if (len > bestLen) {
          bestLen = len;
          bestDist = p - c;
          if (p + len >= matchLimit) break;
        }
      }
      c = chain[c];
    }
  };
  let anchor = 0;
  let p = 0;
  while (p <= lastStart) {
    find(p);
    if (bestLen < MINMATCH) {
      p++;
      continue;
    }
    // Lazy step: a longer match one byte later wins (the byte becomes a literal).
    let len = bestLen;
    let dist = bestDist;
    if (p + 1 <= lastStart) {
      find(p + 1);
      if (bestLen > len + 1) {
        p++;
        len = bestLen;
        dist = bestDist;
      }
    }
    w.sequence(src, anchor, p, dist, len);
    p += len;
    anchor = p;
  }
  w.sequence(src, anchor, n, 0, 0);
  return w.out.slice(0, w.pos);
}

type NativeCompress = (data: Uint8Array) => Promise<Buffer>;
let native: NativeCompress | null | undefined;

function nativeCompress(): NativeCompress | null {
  if (native === undefined) {
    native = null;
    try {
      const mod = createRequire(import.meta.url)('lz4-napi') as { compress?: NativeCompress };
      if (typeof mod.compress === 'function') native = mod.compress;
    } catch {
      native = null;
    }
  }
  return native;
}

/** True when `lz4` compression is available (the `lz4-napi` binary loads here). */
export function lz4CompressAvailable(): boolean {
  return nativeCompress() !== null;
}

/**
 * Compresses `src` into one LZ4 block with `lz4-napi` on the thread pool (its output is the
 * block behind a 4-byte size prefix, which is dropped).
 */
export async function lz4CompressBlock(src: Uint8Array): Promise<Uint8Array> {
  const f = nativeCompress();
  if (!f)
    throw new UnsupportedCodecError(
      'lz4',
      'compression needs the lz4-napi binary, which does not load on this platform (use --compress lz4hc or deflate)',
    );
  const out = await f(src);
  return new Uint8Array(out.buffer, out.byteOffset + 4, out.byteLength - 4);
}
