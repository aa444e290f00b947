/**
 * A raw LZMA1 decoder (range coder + LZ77 with the LZMA literal/match/rep models) into one output
 * buffer of known size, written from the LZMA specification (Igor Pavlov's `lzma-specification`
 * and xz-embedded's documented behaviour). It has no container: the caller supplies the
 * properties (lc/lp/pb), the dictionary size and both sizes, which is exactly what EROFS's
 * MicroLZMA clusters need and what npm's LZMA packages (all `.lzma`/`.xz` container readers) lack.
 *
 * All probabilities live in one Uint16Array; offsets below name each model as the specification
 * does. The whole output is the dictionary (one-shot decoding), so a match distance is checked
 * against the bytes produced so far and against the stream's dictionary size.
 *
 * @packageDocumentation
 */
import { CorruptCompressedDataError } from './errors.js';

const NUM_STATES = 12;
const POS_STATES_MAX = 16;
const PROB_INIT = 1024;
const MIN_MATCH = 2;
const END_POS_MODEL_INDEX = 14;
const NUM_FULL_DISTANCES = 128;
const NUM_ALIGN_BITS = 4;

// Offsets of each model in the probability array.
const IS_MATCH = 0;
const IS_REP = IS_MATCH + NUM_STATES * POS_STATES_MAX;
const IS_REP_G0 = IS_REP + NUM_STATES;
const IS_REP_G1 = IS_REP_G0 + NUM_STATES;
const IS_REP_G2 = IS_REP_G1 + NUM_STATES;
const IS_REP0_LONG = IS_REP_G2 + NUM_STATES;
const POS_SLOT = IS_REP0_LONG + NUM_STATES * POS_STATES_MAX;
const SPEC_POS = POS_SLOT + 4 * 64;
const ALIGN = SPEC_POS + 1 + NUM_FULL_DISTANCES - END_POS_MODEL_INDEX;
const LEN_CODER = ALIGN + (1 << NUM_ALIGN_BITS);
/** A length coder: choice, choice2, low[16][8], mid[16][8], high[256]. */
const LEN_CODER_SIZE = 2 + 2 * POS_STATES_MAX * 8 + 256;
const REP_LEN_CODER = LEN_CODER + LEN_CODER_SIZE;
const LITERAL = REP_LEN_CODER + LEN_CODER_SIZE;
const LEN_LOW = 2;
const LEN_MID = 2 + POS_STATES_MAX * 8;
const LEN_HIGH = 2 + 2 * POS_STATES_MAX * 8;

/** LZMA1 literal/position properties, decoded from the properties byte `(pb * 5 + lp) * 9 + lc`. */
export interface LzmaProperties {
  /** Literal context bits (0–8; with lp at most 4 in total, as xz and EROFS require). */
  lc: number;
  /** Literal position bits (0–4). */
  lp: number;
  /** Position bits (0–4). */
  pb: number;
}

/**
 * Splits an LZMA properties byte. Returns undefined for a byte that encodes no valid properties
 * or lc + lp > 4 (the limit of xz's LZMA1/LZMA2 and of the kernel's MicroLZMA decoder).
 */
export function parseLzmaProperties(byte: number): LzmaProperties | undefined {
  if (!Number.isInteger(byte) || byte < 0 || byte >= 9 * 5 * 5) return undefined;
  const lc = byte % 9;
  const rest = (byte - lc) / 9;
  const lp = rest % 5;
  const pb = (rest - lp) / 5;
  if (lc + lp > 4) return undefined;
  return { lc, lp, pb };
}

/** What {@link decodeLzma} is asked to do. */
export interface LzmaDecodeRequest {
  props: LzmaProperties;
  /** Largest match distance allowed (the stream's dictionary size). */
  dictSize: number;
  /** Where the range coder's 5 initial bytes start in the input. */
  start: number;
  /**
   * First byte of the range coder: LZMA always writes 0 there; MicroLZMA stores the inverted
   * properties byte in its place, and passes it here so it is not checked.
   */
  firstByteChecked: boolean;
  /**
   * Exact: the stream must end exactly after `outputSize` bytes, with every input byte consumed,
   * the range coder finished (code 0) and no match running past the end (xz's
   * `uncomp_size_is_exact`). Otherwise decoding stops at `outputSize` bytes.
   */
  exact: boolean;
}

/**
 * Decodes a raw LZMA1 stream into exactly `outputSize` bytes.
 *
 * @throws CorruptCompressedDataError (codec `lzma`) on corrupt or truncated input
 */
export function decodeLzma(input: Uint8Array, outputSize: number, request: LzmaDecodeRequest): Uint8Array {
  return new LzmaDecoder(input, outputSize, request).run();
}

class LzmaDecoder {
  private range = 0xffffffff;
  private code = 0;
  private ip: number;
  private readonly out: Uint8Array;
  private readonly probs: Uint16Array;

  constructor(
    private readonly input: Uint8Array,
    private readonly outputSize: number,
    private readonly req: LzmaDecodeRequest,
  ) {
    this.out = new Uint8Array(outputSize);
    this.probs = new Uint16Array(LITERAL + (0x300 << (req.props.lc + req.props.lp))).fill(PROB_INIT);
    this.ip = req.start;
  }

  private corrupt(reason: string, op?: number): CorruptCompressedDataError {
    return new CorruptCompressedDataError('lzma', reason, {
      offset: Math.min(this.ip, this.input.length),
      outputOffset: op,
    });
  }

  /** One probability-coded bit; normalises first, as the specification's decoder does. */
  private bit(i: number): number {
    let range = this.range;
    if (range < 0x1000000) {
      if (this.ip >= this.input.length) throw this.corrupt('input ends inside the stream');
      range = (range << 8) >>> 0;
      this.code = ((this.code << 8) | this.input[this.ip++]) >>> 0;
    }
    const p = this.probs[i];
    const bound = (range >>> 11) * p;
    if (this.code < bound) {
      this.range = bound;
      this.probs[i] = p + ((2048 - p) >>> 5);
      return 0;
    }
    this.range = range - bound;
    this.code -= bound;
    this.probs[i] = p - (p >>> 5);
    return 1;
  }

  /** `n` bits of a bit tree rooted at `base` (indices base+1 .. base+2^n-1), most significant first. */
  private tree(base: number, n: number): number {
    let m = 1;
    for (let i = 0; i < n; i++) m = (m << 1) | this.bit(base + m);
    return m - (1 << n);
  }

  /** `n` bits of a bit tree, least significant first. */
  private reverseTree(base: number, n: number): number {
    let m = 1;
    let sym = 0;
    for (let i = 0; i < n; i++) {
      const b = this.bit(base + m);
      m = (m << 1) | b;
      sym |= b << i;
    }
    return sym;
  }

  /** `n` bits with probability one half each. */
  private direct(n: number): number {
    let res = 0;
    let range = this.range;
    let code = this.code;
    for (let i = 0; i < n; i++) {
      if (range < 0x1000000) {
        if (this.ip >= this.input.length) throw this.corrupt('input ends inside the stream');
        range = (range << 8) >>> 0;
        code = ((code << 8) | this.input[this.ip++]) >>> 0;
      }
      range >>>= 1;
      let b = 0;
      if (code >= range) {
        code -= range;
        b = 1;
      }
      res = res * 2 + b;
    }
    this.range = range;
    this.code = code;
    return res;
  }

  private length(base: number, posState: number): number {
    if (this.bit(base) === 0) return this.tree(base + LEN_LOW + posState * 8, 3);
    if (this.bit(base + 1) === 0) return 8 + this.tree(base + LEN_MID + posState * 8, 3);
    return 16 + this.tree(base + LEN_HIGH, 8);
  }

  /** A match distance minus one, for a match of (length - 2) = `len`. */
  private distance(len: number): number {
    const slot = this.tree(POS_SLOT + (len < 3 ? len : 3) * 64, 6);
    if (slot < 4) return slot;
    const nbits = (slot >>> 1) - 1;
    const base = (2 | (slot & 1)) * 2 ** nbits;
    if (slot < END_POS_MODEL_INDEX) return base + this.reverseTree(SPEC_POS + base - slot - 1, nbits);
    return base + this.direct(nbits - NUM_ALIGN_BITS) * 16 + this.reverseTree(ALIGN - 1, NUM_ALIGN_BITS);
  }

  run(): Uint8Array {
    const { input, out, outputSize, req } = this;
    const { lc, lp, pb } = req.props;
    if (input.length - req.start < 5) throw this.corrupt('stream shorter than the range coder header', 0);
    if (req.firstByteChecked && input[req.start] !== 0) throw this.corrupt('first range coder byte is not 0', 0);
    this.code =
      ((input[req.start + 1] << 24) |
        (input[req.start + 2] << 16) |
        (input[req.start + 3] << 8) |
        input[req.start + 4]) >>>
      0;
    this.ip = req.start + 5;
    if (this.code === 0xffffffff) throw this.corrupt('invalid range coder start', 0);

    const pbMask = (1 << pb) - 1;
    const lpMask = (1 << lp) - 1;
    const dictSize = req.dictSize;
    let state = 0;
    let rep0 = 0;
    let rep1 = 0;
    let rep2 = 0;
    let rep3 = 0;
    let op = 0;
    let pending = 0; // match bytes cut off by the end of the output
    while (op < outputSize) {
      const posState = op & pbMask;
      if (this.bit(IS_MATCH + (state << 4) + posState) === 0) {
        const prev = op > 0 ? out[op - 1] : 0;
        const probs = LITERAL + 0x300 * (((op & lpMask) << lc) + (prev >>> (8 - lc)));
        let sym = 1;
        if (state >= 7) {
          // After a match the literal is coded relative to the byte at rep0.
          let matchByte = out[op - rep0 - 1];
          do {
            const matchBit = (matchByte >>> 7) & 1;
            matchByte <<= 1;
            const b = this.bit(probs + ((1 + matchBit) << 8) + sym);
            sym = (sym << 1) | b;
            if (matchBit !== b) break;
          } while (sym < 0x100);
        }
        while (sym < 0x100) sym = (sym << 1) | this.bit(probs + sym);
        out[op++] = sym & 0xff;
        state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
        continue;
      }
      let len: number;
      if (this.bit(IS_REP + state) !== 0) {
        if (op === 0) throw this.corrupt('repeated match before any output', op);
        if (this.bit(IS_REP_G0 + state) === 0) {
          if (this.bit(IS_REP0_LONG + (state << 4) + posState) === 0) {
            // Short rep: one byte at distance rep0.
            state = state < 7 ? 9 : 11;
            out[op] = out[op - rep0 - 1];
            op++;
            continue;
          }
        } else {
          let dist: number;
          if (this.bit(IS_REP_G1 + state) === 0) dist = rep1;
          else {
            if (this.bit(IS_REP_G2 + state) === 0) dist = rep2;
            else {
              dist = rep3;
              rep3 = rep2;
            }
            rep2 = rep1;
          }
          rep1 = rep0;
          rep0 = dist;
        }
        len = this.length(REP_LEN_CODER, posState);
        state = state < 7 ? 8 : 11;
      } else {
        rep3 = rep2;
        rep2 = rep1;
        rep1 = rep0;
        len = this.length(LEN_CODER, posState);
        state = state < 7 ? 7 : 10;
        rep0 = this.distance(len);
        if (rep0 === 0xffffffff) {
          // End-of-payload marker: MicroLZMA streams have none, and the size is known anyway.
          throw this.corrupt(`end marker after ${op} of ${outputSize} bytes`, op);
        }
        if (rep0 >= op || rep0 >= dictSize)
          throw this.corrupt(`match distance ${rep0 + 1} exceeds the ${Math.min(op, dictSize)} bytes available`, op);
      }
      len += MIN_MATCH;
      if (len > outputSize - op) {
        pending = len - (outputSize - op);
        len = outputSize - op;
      }
      let from = op - rep0 - 1;
      const end = op + len;
      if (rep0 + 1 >= len && len > 32) {
        out.copyWithin(op, from, from + len);
        op = end;
      } else {
        while (op < end) out[op++] = out[from++];
      }
    }
    if (req.exact) {
      if (pending > 0) throw this.corrupt(`a match runs ${pending} bytes past the end of the output`, op);
      // xz-embedded leaves the range coder normalised after the last symbol, so the stream's
      // final byte may be one that no symbol needed yet.
      if (this.range < 0x1000000) {
        if (this.ip >= input.length) throw this.corrupt('input ends inside the stream', op);
        this.range = (this.range << 8) >>> 0;
        this.code = ((this.code << 8) | input[this.ip++]) >>> 0;
      }
      if (this.ip !== input.length)
        throw this.corrupt(`stream ends after ${this.ip} of ${input.length} input bytes`, op);
      if (this.code !== 0) throw this.corrupt('range coder did not finish cleanly', op);
    }
    return out;
  }
}
