/**
 * zstd's content checksum: the low 32 bits of XXH64 (seed 0) of a frame's decoded bytes
 * (RFC 8878 §3.1.1), computed by `xxhash-wasm` (xxHash's C code built to WebAssembly): 10–17×
 * the speed of the TypeScript XXH64 it replaced, and still 2.5–3.7× under the command's
 * `--liftoff-only` (see bin/ocifs.js), which leaves WebAssembly unoptimised. The WebAssembly
 * module is instantiated once, when this module loads.
 *
 * @packageDocumentation
 */
import xxhash from 'xxhash-wasm';

const hasher = await xxhash();

/**
 * Bytes handed to the hasher at once: each update copies its input into the WebAssembly memory,
 * which grows to fit and never shrinks, so a large frame is hashed in pieces.
 */
const PIECE = 1024 * 1024;

/** An incremental frame checksum. */
export class FrameChecksum {
  private state = hasher.create64();

  /** Starts a new frame. */
  reset(): void {
    this.state = hasher.create64();
  }

  /** Adds `b[start, end)`. */
  update(b: Uint8Array, start = 0, end = b.length): void {
    for (let p = start; p < end; p += PIECE) this.state.update(b.subarray(p, Math.min(end, p + PIECE)));
  }

  /** The checksum as a zstd frame stores it: the low 32 bits of the hash. */
  digest32(): number {
    return Number(this.state.digest() & 0xffff_ffffn);
  }
}
