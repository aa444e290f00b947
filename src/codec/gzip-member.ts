/**
 * gzip member framing (RFC 1952): the header before a deflate stream (with its optional
 * FEXTRA, FNAME, FCOMMENT and FHCRC fields, which eStargz and pigz use) and the 8-byte trailer
 * after it. A gzip file is one or more members back to back.
 *
 * @packageDocumentation
 */
import { crc32 } from 'node:zlib';

/** gzip header flag bits (RFC 1952 section 2.3.1). */
const FHCRC = 2;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;
const FRESERVED = 0xe0;

/** Result of {@link parseGzipHeader}. */
export type GzipHeaderResult =
  /** The header is complete: the deflate stream starts `length` bytes after its start. */
  | { ok: true; length: number }
  /** More bytes are needed to see the whole header. */
  | { ok: false; needMore: true }
  /** Not a valid gzip header. */
  | { ok: false; needMore: false; reason: string };

/** Parses a gzip member header at the start of `b` (which may hold more bytes after it). */
export function parseGzipHeader(b: Uint8Array): GzipHeaderResult {
  const more = { ok: false, needMore: true } as const;
  if (b.length < 10) return b.length >= 1 && b[0] !== 0x1f ? { ok: false, needMore: false, reason: 'bad magic' } : more;
  if (b[0] !== 0x1f || b[1] !== 0x8b) return { ok: false, needMore: false, reason: 'bad magic' };
  if (b[2] !== 8) return { ok: false, needMore: false, reason: `compression method ${b[2]} is not deflate` };
  const flg = b[3];
  if (flg & FRESERVED) return { ok: false, needMore: false, reason: 'reserved header flags set' };
  let p = 10;
  if (flg & FEXTRA) {
    if (b.length < p + 2) return more;
    p += 2 + (b[p] | (b[p + 1] << 8));
    if (b.length < p) return more;
  }
  for (const f of [FNAME, FCOMMENT]) {
    if (flg & f) {
      const z = b.indexOf(0, p);
      if (z < 0) return more;
      p = z + 1;
    }
  }
  if (flg & FHCRC) {
    if (b.length < p + 2) return more;
    // The low 16 bits of the CRC-32 of the header bytes before it (RFC 1952 2.3.1).
    if ((crc32(b.subarray(0, p)) & 0xffff) !== (b[p] | (b[p + 1] << 8)))
      return { ok: false, needMore: false, reason: 'header CRC mismatch' };
    p += 2;
  }
  return { ok: true, length: p };
}

/** Size of the gzip trailer (CRC-32 and ISIZE, little-endian). */
export const GZIP_TRAILER = 8;

/** Reads the trailer at `at`: CRC-32 of the member's data and its size mod 2^32. */
export function readGzipTrailer(b: Uint8Array, at: number): { crc: number; isize: number } {
  const v = new DataView(b.buffer, b.byteOffset + at, 8);
  return { crc: v.getUint32(0, true), isize: v.getUint32(4, true) };
}
