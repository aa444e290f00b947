/**
 * Resuming a raw deflate stream at any block boundary with Node's native zlib, which has no
 * `inflatePrime()`.
 *
 * A checkpoint is a bit offset where a deflate block starts, plus the 32 KiB of output before
 * it (the window back-references may reach). Native `inflateRaw` accepts the window as its
 * `dictionary` but can only start at a byte boundary. So the stream is made to start at one:
 * a run of no-op deflate blocks (non-final, producing no output) is put in front whose length
 * in bits is ≡ the checkpoint's bit position mod 8; its last partial byte is merged with the
 * first byte of the real stream, whose low bits (the end of the previous block) are replaced.
 * The no-op blocks: an empty fixed-Huffman block (10 bits) and an empty dynamic block whose
 * length can be changed by 3 bits (one more code-length-code entry); together they reach every
 * residue mod 8. zlib accepts the dynamic block's single 1-bit end-of-block code (an incomplete
 * code is allowed when it has a single code of length 1, RFC 1951 3.2.7 as zlib reads it).
 *
 * Native zlib decodes ~3x faster than the JavaScript port used for the index pass, and runs on
 * the libuv thread pool, so reads after the pass are fast and do not block the event loop.
 *
 * @packageDocumentation
 */
import { inflateRaw, constants } from 'node:zlib';

/** Appends bits LSB-first, as deflate packs them. */
class BitWriter {
  bytes: number[] = [];
  acc = 0;
  n = 0;
  put(v: number, n: number): void {
    for (let i = 0; i < n; i++) {
      this.acc |= ((v >> i) & 1) << this.n;
      if (++this.n === 8) {
        this.bytes.push(this.acc);
        this.acc = 0;
        this.n = 0;
      }
    }
  }
  /** A Huffman code, most significant bit first. */
  code(code: number, len: number): void {
    for (let i = len - 1; i >= 0; i--) this.put((code >> i) & 1, 1);
  }
  get bits(): number {
    return this.bytes.length * 8 + this.n;
  }
}

/** An empty non-final fixed-Huffman block: BFINAL 0, BTYPE 01, end-of-block (7 zero bits). */
function emptyFixed(w: BitWriter): void {
  w.put(0, 1);
  w.put(1, 2);
  w.code(0, 7);
}

/**
 * An empty non-final dynamic block with `k` (18 or 19) code-length-code lengths: the
 * literal/length code has only end-of-block (length 1), the distance code is empty.
 */
function emptyDynamic(w: BitWriter, k: number): void {
  w.put(0, 1);
  w.put(2, 2);
  w.put(0, 5); // HLIT: 257 codes
  w.put(0, 5); // HDIST: 1 code
  w.put(k - 4, 4); // HCLEN
  const order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
  // Code-length code: 18 -> '0' (1 bit), 0 -> '10', 1 -> '11' (a complete code).
  const lens: Record<number, number> = { 18: 1, 0: 2, 1: 2 };
  for (let i = 0; i < k; i++) w.put(lens[order[i]] ?? 0, 3);
  const sym = { 18: [0, 1], 0: [2, 2], 1: [3, 2] } as const;
  w.code(...sym[18]);
  w.put(138 - 11, 7); // lengths of symbols 0..137: zero
  w.code(...sym[18]);
  w.put(118 - 11, 7); // 138..255: zero
  w.code(...sym[1]); // 256 (end of block): 1
  w.code(...sym[0]); // the one distance code: unused
  w.code(0, 1); // end of block
}

/** For each residue r = 1..7: whole bytes and the r low bits of the merged byte. */
const PREFIX: { bytes: Uint8Array; last: number }[] = [];
for (let r = 1; r < 8; r++) {
  let found: BitWriter | undefined;
  for (const k of [0, 18, 19]) {
    for (let n = 0; n < 8 && !found; n++) {
      const w = new BitWriter();
      if (k) emptyDynamic(w, k);
      for (let i = 0; i < n; i++) emptyFixed(w);
      if (w.bits % 8 === r) found = w;
    }
    if (found) break;
  }
  PREFIX[r] = { bytes: Uint8Array.from(found!.bytes), last: found!.acc };
}

/**
 * Input for native raw inflate that starts decoding at bit `bit % 8` of `bytes[0]`:
 * `bytes` starts at byte `floor(bit / 8)` of the deflate data. Returns the input and how many
 * of its leading bytes are synthetic (to translate consumed counts back).
 */
export function primedInput(bytes: Uint8Array, bitInFirstByte: number): { input: Uint8Array; extra: number } {
  const r = bitInFirstByte & 7;
  if (r === 0) return { input: bytes, extra: 0 };
  const p = PREFIX[r];
  const input = new Uint8Array(p.bytes.length + bytes.length);
  input.set(p.bytes, 0);
  input.set(bytes, p.bytes.length);
  const mask = (1 << r) - 1;
  input[p.bytes.length] = (p.last & mask) | (bytes[0] & ~mask & 0xff);
  return { input, extra: p.bytes.length };
}

/** Result of {@link inflateFrom}. */
export interface InflateFromResult {
  /** Decompressed bytes (at most `maxOutput`). */
  output: Uint8Array;
  /** Bytes of `bytes` consumed (the partial last byte counts); meaningful when `ended`. */
  consumed: number;
  /** True when the deflate stream's final block ended within `bytes`. */
  ended: boolean;
}

/**
 * Decompresses raw deflate data starting at bit `bitInFirstByte` of `bytes[0]`, with `window`
 * as the history, on the thread pool. Stops at the end of the stream or of the input. Throws
 * zlib's error (a `code` of `Z_DATA_ERROR` etc.) on corrupt data.
 */
export function inflateFrom(
  bytes: Uint8Array,
  bitInFirstByte: number,
  window: Uint8Array,
  maxOutput: number,
): Promise<InflateFromResult> {
  const { input, extra } = primedInput(bytes, bitInFirstByte);
  return new Promise((resolve, reject) => {
    inflateRaw(
      input,
      {
        ...(window.length > 0 ? { dictionary: window } : {}),
        finishFlush: constants.Z_SYNC_FLUSH,
        maxOutputLength: Math.max(1, maxOutput),
        // One output buffer for the whole span: zlib's one-shot API otherwise hops through the
        // thread pool once per 16 KiB chunk.
        chunkSize: Math.min(Math.max(64 * 1024, maxOutput), 16 * 1024 * 1024),
        info: true,
      },
      (err, res) => {
        if (err) return reject(err);
        const { buffer, engine } = res as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
        const consumed = engine.bytesWritten - extra;
        // The stream ended if the inflater stopped before using all input, or a final block
        // closed exactly at the end (then more input would not have produced more output).
        resolve({ output: buffer, consumed, ended: consumed < bytes.length });
      },
    );
  });
}
