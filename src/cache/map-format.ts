/**
 * The presence map file of a cached blob: a fixed header, then one byte per chunk.
 *
 * ```
 * offset size  field
 *   0     8    magic "OCIFSMAP"
 *   8     2    version (u16 LE) = 1
 *  10     2    header length (u16 LE) = 128
 *  12     4    chunk size (u32 LE, power of two)
 *  16     8    blob size (u64 LE)
 *  24     1    digest algorithm: 1 = sha256, 2 = sha512
 *  25     7    reserved, zero
 *  32    64    digest (raw hash bytes; sha256 uses the first 32, the rest is zero)
 *  96     8    instance id (random, tells two incarnations of one blob apart)
 * 104     4    reserved, zero
 * 108     4    CRC-32 of bytes 0..107
 * 112     1    state: 'P' partial, 'C' complete (not verified), 'V' verified, 'X' bad
 * 113    15    reserved, zero
 * 128     N    one byte per chunk: 0x00 missing, 0xA5 present (anything else = corrupt)
 * ```
 *
 * The checksummed part never changes after the file is created (it is written and fsync-ed in
 * tmp/ before the instance is renamed into place), so it cannot be torn. The state byte and the
 * chunk bytes are each written alone, so a crash cannot tear them either; their values are
 * chosen so that a single flipped bit never turns one valid value into another.
 *
 * @packageDocumentation
 */
import { crc32 } from 'node:zlib';
import type { Digest } from '../ref/digest.js';
import { digestBytes } from '../ref/digest.js';

/** File magic. */
export const MAP_MAGIC = 'OCIFSMAP';
/** Format version written and accepted. */
export const MAP_VERSION = 1;
/** Bytes before the first chunk byte. */
export const MAP_HEADER_SIZE = 128;
/** Offset of the state byte. */
export const STATE_OFFSET = 112;
/** A chunk's bytes are in the data file and durable. */
export const CHUNK_PRESENT = 0xa5;
/** A chunk is missing. */
export const CHUNK_MISSING = 0x00;

/** Lifecycle of a blob instance, as recorded in its map header. */
export enum BlobState {
  Partial = 0x50,
  Complete = 0x43,
  Verified = 0x56,
  Bad = 0x58,
}

const ALGORITHMS = { sha256: 1, sha512: 2 } as const;

/** The decoded fixed part of a map header. */
export interface MapHeader {
  version: number;
  chunkSize: number;
  blobSize: number;
  algorithm: 'sha256' | 'sha512';
  digestHex: string;
  instanceId: bigint;
  state: BlobState;
}

/** Number of chunks of a blob. */
export function chunkCount(blobSize: number, chunkSize: number): number {
  return Math.ceil(blobSize / chunkSize);
}

/** Encodes a new header (state Partial, or Verified for an empty blob's caller to decide). */
export function encodeHeader(
  d: Digest,
  blobSize: number,
  chunkSize: number,
  instanceId: bigint,
  state: BlobState,
): Uint8Array {
  const b = Buffer.alloc(MAP_HEADER_SIZE);
  b.write(MAP_MAGIC, 0, 'latin1');
  b.writeUInt16LE(MAP_VERSION, 8);
  b.writeUInt16LE(MAP_HEADER_SIZE, 10);
  b.writeUInt32LE(chunkSize, 12);
  b.writeBigUInt64LE(BigInt(blobSize), 16);
  b.writeUInt8(ALGORITHMS[d.algorithm], 24);
  b.set(digestBytes(d), 32);
  b.writeBigUInt64LE(instanceId, 96);
  b.writeUInt32LE(crc32(b.subarray(0, 108)), 108);
  b.writeUInt8(state, STATE_OFFSET);
  return b;
}

/**
 * Decodes and checks a header; returns a reason string when it is not a valid header of the
 * current version. Does not compare it with what the caller expects.
 */
export function decodeHeader(bytes: Uint8Array): MapHeader | string {
  if (bytes.byteLength < MAP_HEADER_SIZE) return `header is ${bytes.byteLength} bytes, want ${MAP_HEADER_SIZE}`;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, MAP_HEADER_SIZE);
  if (b.toString('latin1', 0, 8) !== MAP_MAGIC) return 'bad magic';
  const version = b.readUInt16LE(8);
  if (version !== MAP_VERSION) return `version ${version}, want ${MAP_VERSION}`;
  if (b.readUInt16LE(10) !== MAP_HEADER_SIZE) return 'bad header length';
  if (b.readUInt32LE(108) !== crc32(b.subarray(0, 108))) return 'header checksum mismatch';
  const chunkSize = b.readUInt32LE(12);
  if (chunkSize < 4096 || (chunkSize & (chunkSize - 1)) !== 0) return `bad chunk size ${chunkSize}`;
  const size = b.readBigUInt64LE(16);
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) return 'blob size out of range';
  const alg = b.readUInt8(24);
  const algorithm = alg === 1 ? 'sha256' : alg === 2 ? 'sha512' : undefined;
  if (!algorithm) return `bad digest algorithm ${alg}`;
  const digestHex = b.toString('hex', 32, 32 + (algorithm === 'sha256' ? 32 : 64));
  const state = b.readUInt8(STATE_OFFSET);
  if (!isBlobState(state)) return `bad state byte 0x${state.toString(16)}`;
  return { version, chunkSize, blobSize: Number(size), algorithm, digestHex, instanceId: b.readBigUInt64LE(96), state };
}

/** True for a byte that names a {@link BlobState}. */
function isBlobState(byte: number): byte is BlobState {
  return byte in BlobState && typeof BlobState[byte] === 'string';
}

/** Checks map bytes; returns the number of present chunks, or -1 when a byte is neither value. */
export function countPresent(map: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < map.length; i++) {
    const v = map[i];
    if (v === CHUNK_PRESENT) n++;
    else if (v !== CHUNK_MISSING) return -1;
  }
  return n;
}
