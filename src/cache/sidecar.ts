/**
 * Sidecar files: small derived data keyed by a blob digest and a name (a gzip checkpoint index,
 * a tar index), stored next to the cache's blobs and evicted with them.
 *
 * ```
 * offset size field
 *   0     8   magic "OCIFSSC1"
 *   8     2   version (u16 LE) = 1
 *  10     2   key length K (u16 LE)
 *  12     4   CRC-32 of key then payload
 *  16     8   payload length (u64 LE) = file size - 24 - K
 *  24     K   key: "<digest>/<name>" (UTF-8)
 *  24+K   ..  payload
 * ```
 *
 * Written to tmp/, fsync-ed, then renamed into place: a reader sees the old file, the new file
 * or none, never a mix. A file that fails any check is deleted and reported as absent, so the
 * caller rebuilds it.
 *
 * @packageDocumentation
 */
import { mkdir, open, readFile, rename, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { debuglog } from 'node:util';
import { InvalidOptionError } from '../errors.js';
import type { ParsedDigest } from './digest.js';
import { CacheIoError } from './errors.js';
import { fsyncDir, isNotFound, pwriteFull, randomName } from './fs-util.js';
import type { CacheLayout } from './layout.js';

const debug = debuglog('ocifs:cache');

const MAGIC = 'OCIFSSC1';
const VERSION = 1;
const HEADER = 24;
/** Largest sidecar accepted. */
export const MAX_SIDECAR_BYTES = 1024 * 1024 * 1024;

/** Checks a sidecar name: letters, digits, `.`, `_`, `-`; not starting with a dot. */
export function checkSidecarName(name: string): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name)) {
    throw new InvalidOptionError('name', `sidecar name ${JSON.stringify(name)} must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}`);
  }
  return name;
}

function encode(key: string, payload: Uint8Array): Buffer {
  const k = Buffer.from(key, 'utf8');
  const h = Buffer.alloc(HEADER);
  h.write(MAGIC, 0, 'latin1');
  h.writeUInt16LE(VERSION, 8);
  h.writeUInt16LE(k.length, 10);
  h.writeUInt32LE(crc32(payload, crc32(k)), 12);
  h.writeBigUInt64LE(BigInt(payload.byteLength), 16);
  return Buffer.concat([h, k]);
}

/** Decodes a sidecar file; returns the payload or a reason it is bad. */
export function decodeSidecar(file: Uint8Array, key: string): Uint8Array | string {
  if (file.byteLength < HEADER) return 'short file';
  const b = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (b.toString('latin1', 0, 8) !== MAGIC) return 'bad magic';
  if (b.readUInt16LE(8) !== VERSION) return 'unknown version';
  const klen = b.readUInt16LE(10);
  const plen = b.readBigUInt64LE(16);
  if (BigInt(file.byteLength) !== BigInt(HEADER + klen) + plen) return 'length mismatch';
  const k = b.subarray(HEADER, HEADER + klen);
  if (k.toString('utf8') !== key) return 'belongs to another blob or name';
  const payload = b.subarray(HEADER + klen);
  if (crc32(payload, crc32(k)) !== b.readUInt32LE(12)) return 'checksum mismatch';
  return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
}

/** Atomically stores a sidecar. */
export async function writeSidecar(layout: CacheLayout, d: ParsedDigest, name: string, bytes: Uint8Array): Promise<void> {
  checkSidecarName(name);
  if (bytes.byteLength > MAX_SIDECAR_BYTES) throw new InvalidOptionError('bytes', `sidecar larger than ${MAX_SIDECAR_BYTES} bytes`);
  const dir = layout.sidecarDir(d);
  const tmp = join(layout.tmp, randomName('sidecar'));
  const fh = await open(tmp, 'wx', 0o600).catch((err) => {
    throw new CacheIoError(tmp, 'create', err);
  });
  try {
    const head = encode(`${d.digest}/${name}`, bytes);
    await pwriteFull(fh, head, 0);
    await pwriteFull(fh, bytes, head.byteLength);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw new CacheIoError(tmp, 'write', err);
  }
  await fh.close();
  try {
    // The directory may be evicted between mkdir and rename; one retry covers that race.
    for (let attempt = 0; ; attempt++) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      try {
        await rename(tmp, join(dir, name));
        break;
      } catch (err) {
        if (!isNotFound(err) || attempt > 2) throw err;
      }
    }
    await fsyncDir(dir);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw new CacheIoError(join(dir, name), 'rename', err);
  }
}

/** Reads a sidecar; undefined when absent or corrupt (a corrupt one is deleted). */
export async function readSidecar(layout: CacheLayout, d: ParsedDigest, name: string): Promise<Uint8Array | undefined> {
  checkSidecarName(name);
  const dir = layout.sidecarDir(d);
  const path = join(dir, name);
  let file: Buffer;
  try {
    file = await readFile(path);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw new CacheIoError(path, 'read', err);
  }
  const r = decodeSidecar(file, `${d.digest}/${name}`);
  if (typeof r === 'string') {
    debug('sidecar %s: %s; deleting it', path, r);
    await unlink(path).catch(() => {});
    return undefined;
  }
  const now = new Date();
  await utimes(dir, now, now).catch(() => {});
  return r;
}
