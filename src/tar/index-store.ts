/**
 * Where built indexes live. The image layer backs this with the blob cache's sidecar files,
 * kept with the cached copy of the blob whose bytes they were built from (so an index is built
 * once per blob per machine, and dies with bytes that fail their digest check);
 * {@link MemoryIndexStore} keeps them in memory (tests).
 *
 * Stored bytes are untrusted on load: each index is framed by {@link packIndex} (magic,
 * version, CRC-32, compressed payload) and validated field by field before use.
 *
 * @packageDocumentation
 */
import { crc32, deflateRaw, inflateRaw } from 'node:zlib';
import { promisify } from 'node:util';
import { CorruptIndexError } from './errors.js';

/** A small key-value store for the indexes of one blob. */
export interface IndexStore {
  /** The bytes stored under `name`, or undefined. */
  get(name: string): Promise<Uint8Array | undefined>;
  /** Stores bytes under `name` (replacing what was there). */
  put(name: string, bytes: Uint8Array): Promise<void>;
}

/** An {@link IndexStore} in memory. */
export class MemoryIndexStore implements IndexStore {
  readonly map = new Map<string, Uint8Array>();
  async get(name: string): Promise<Uint8Array | undefined> {
    return this.map.get(name);
  }
  async put(name: string, bytes: Uint8Array): Promise<void> {
    this.map.set(name, bytes.slice());
  }
}

const deflateRawAsync = promisify(deflateRaw);
const inflateRawAsync = promisify(inflateRaw);

/** Largest decompressed index payload accepted on load. */
export const MAX_INDEX_PAYLOAD = 1 << 30;

/** Frames a payload: 8-byte magic, version byte, CRC-32 of the payload (big-endian), raw deflate. */
export async function packIndex(magic: string, version: number, payload: Uint8Array): Promise<Uint8Array> {
  const body = await deflateRawAsync(payload, { level: 6 });
  const out = new Uint8Array(13 + body.length);
  out.set(Buffer.from(magic.padEnd(8, '\0').slice(0, 8), 'latin1'), 0);
  out[8] = version;
  new DataView(out.buffer).setUint32(9, crc32(payload));
  out.set(body, 13);
  return out;
}

/** Undoes {@link packIndex}, refusing anything that does not match exactly. */
export async function unpackIndex(
  bytes: Uint8Array,
  magic: string,
  version: number,
  what: string,
): Promise<Uint8Array> {
  if (bytes.length < 13) throw new CorruptIndexError(what, 'too short');
  if (Buffer.from(bytes.subarray(0, 8)).toString('latin1') !== magic.padEnd(8, '\0').slice(0, 8))
    throw new CorruptIndexError(what, 'bad magic');
  if (bytes[8] !== version) throw new CorruptIndexError(what, `version ${bytes[8]}, expected ${version}`);
  const want = new DataView(bytes.buffer, bytes.byteOffset).getUint32(9);
  let payload: Uint8Array;
  try {
    payload = await inflateRawAsync(bytes.subarray(13), { maxOutputLength: MAX_INDEX_PAYLOAD });
  } catch (err) {
    throw new CorruptIndexError(what, 'payload does not inflate', { cause: err });
  }
  if (crc32(payload) !== want) throw new CorruptIndexError(what, 'CRC mismatch');
  return payload;
}
