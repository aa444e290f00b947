/**
 * The 512-byte tar header block: field offsets as in POSIX ustar (`struct posix_header`) and
 * GNU tar's `struct oldgnu_header` (tar.h), number decoding (octal and GNU base-256), and the
 * header checksum.
 *
 * @packageDocumentation
 */

/** Size of a tar block. */
export const BLOCK = 512;

/** Offsets and lengths of the ustar header fields (POSIX.1-1988 `struct posix_header`). */
export const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
  /** GNU `oldgnu_header`: 4 sparse descriptors (offset[12], numbytes[12]) from 386. */
  gnuSparse: [386, 96],
  gnuIsExtended: [482, 1],
  gnuRealSize: [483, 12],
} as const;

const utf8 = new TextDecoder('utf-8');

/** A NUL-terminated string field, decoded as UTF-8. */
export function readString(block: Uint8Array, at: number, len: number): string {
  let end = at;
  const max = at + len;
  while (end < max && block[end] !== 0) end++;
  return utf8.decode(block.subarray(at, end));
}

/**
 * A numeric field: octal digits (leading spaces/NULs allowed, terminated by space or NUL), or
 * GNU base-256 (first byte 0x80 positive, 0xff negative, big-endian two's complement).
 * Returns undefined for a field that is not a number.
 */
export function readNumber(block: Uint8Array, at: number, len: number): bigint | undefined {
  const first = block[at];
  if (first === 0x80 || first === 0xff) {
    let v = BigInt(first & 0x7f) - (first === 0xff ? 0x80n : 0n);
    // For 0xff the sign bit is set: value = -(2^(8*len-1)) + rest, done by subtracting 0x80 above.
    for (let i = 1; i < len; i++) v = (v << 8n) | BigInt(block[at + i]);
    return v;
  }
  let i = at;
  const end = at + len;
  while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
  if (i === end) return 0n;
  let v = 0n;
  let digits = 0;
  for (; i < end; i++) {
    const c = block[i];
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) return undefined;
    v = (v << 3n) | BigInt(c - 0x30);
    digits++;
  }
  // Anything after the terminator must be terminators too.
  for (; i < end; i++) if (block[i] !== 0x20 && block[i] !== 0) return undefined;
  return digits === 0 ? 0n : v;
}

/** True when every byte of the block is zero (an end-of-archive marker). */
export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/**
 * Verifies the header checksum: the sum of all bytes with the chksum field counted as spaces.
 * Historic tars summed signed chars; both sums are accepted, as GNU tar does.
 */
export function checksumOk(block: Uint8Array): boolean {
  const stored = readNumber(block, F.chksum[0], F.chksum[1]);
  if (stored === undefined) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === BigInt(unsigned) || stored === BigInt(signed);
}

/** Header flavour, from the magic field. */
export function headerFormat(block: Uint8Array): 'ustar' | 'gnu' | 'v7' {
  const m = block.subarray(257, 265);
  if (m[0] === 0x75 && m[1] === 0x73 && m[2] === 0x74 && m[3] === 0x61 && m[4] === 0x72) {
    // "ustar\0" "00" is POSIX; "ustar " " \0" is GNU (whose prefix area holds atime/ctime/sparse).
    return m[5] === 0x20 ? 'gnu' : 'ustar';
  }
  return 'v7';
}
