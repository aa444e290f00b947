/**
 * Sidecar files: data derived from a blob's bytes (a tar index, gzip checkpoints, a TOC), kept
 * inside the blob instance whose bytes they were derived from (`<instance>/sidecars/<name>`)
 * and bound to it by the instance id of its map. So a sidecar lives and dies with those bytes:
 * discarded with an instance that fails its digest check, moved with it into `blobs/` when it
 * verifies, never seen by another origin's instance.
 *
 * ```
 * offset size field
 *   0     8   magic "OCIFSSC1"
 *   8     2   version (u16 LE) = 2
 *  10     2   key length K (u16 LE)
 *  12     4   CRC-32 of bytes 16.. (everything after this field)
 *  16     8   payload length (u64 LE) = file size - 32 - K
 *  24     8   instance id (u64 LE) of the blob instance it was derived from
 *  32     K   key: "<digest>/<name>" (UTF-8)
 *  32+K   ..  payload
 * ```
 *
 * Written to tmp/, fsync-ed, then renamed into place: a reader sees the old file, the new file
 * or none, never a mix. A file that fails any check — including one bound to another instance
 * (left by a writer that raced with the instance's replacement) — is deleted and reported as
 * absent, so the caller rebuilds it.
 *
 * @packageDocumentation
 */
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { debuglog } from '../io/debug-log.js';
import { InvalidOptionError } from '../errors.js';
import type { Digest } from '../ref/digest.js';
import { CacheIoError } from './errors.js';
import { fsyncDir, isNotFound, pwriteFull, randomName } from './fs-util.js';
import { SIDECARS_DIR } from './layout.js';

const debug = debuglog('ocifs:cache');

const MAGIC = 'OCIFSSC1';
const VERSION = 2;
const HEADER = 32;
/** Largest sidecar accepted. */
export const MAX_SIDECAR_BYTES = 1024 * 1024 * 1024;

/** Checks a sidecar name: letters, digits, `.`, `_`, `-`; not starting with a dot. */
export function checkSidecarName(name: string): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name)) {
    throw new InvalidOptionError(
      'name',
      `sidecar name ${JSON.stringify(name)} must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}`,
    );
  }
  return name;
}

function encodeHead(key: string, instanceId: bigint, payload: Uint8Array): Buffer {
  const k = Buffer.from(key, 'utf8');
  const h = Buffer.alloc(HEADER);
  h.write(MAGIC, 0, 'latin1');
  h.writeUInt16LE(VERSION, 8);
  h.writeUInt16LE(k.length, 10);
  h.writeBigUInt64LE(BigInt(payload.byteLength), 16);
  h.writeBigUInt64LE(instanceId, 24);
  h.writeUInt32LE(crc32(payload, crc32(k, crc32(h.subarray(16, HEADER)))), 12);
  return Buffer.concat([h, k]);
}

/** Decodes a sidecar file; returns the payload or a reason it is bad (or not this instance's). */
export function decodeSidecar(file: Uint8Array, key: string, instanceId: bigint): Uint8Array | string {
  if (file.byteLength < HEADER) return 'short file';
  const b = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (b.toString('latin1', 0, 8) !== MAGIC) return 'bad magic';
  if (b.readUInt16LE(8) !== VERSION) return 'unknown version';
  const klen = b.readUInt16LE(10);
  const plen = b.readBigUInt64LE(16);
  if (BigInt(file.byteLength) !== BigInt(HEADER + klen) + plen) return 'length mismatch';
  const k = b.subarray(HEADER, HEADER + klen);
  const payload = b.subarray(HEADER + klen);
  if (crc32(payload, crc32(k, crc32(b.subarray(16, HEADER)))) !== b.readUInt32LE(12)) return 'checksum mismatch';
  if (k.toString('utf8') !== key) return 'belongs to another blob or name';
  if (b.readBigUInt64LE(24) !== instanceId) return 'derived from bytes of another instance of the blob';
  return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
}

/** Where an instance keeps its sidecars, and what binds them to it. */
export interface SidecarHome {
  /** The instance directory. */
  dir: string;
  /** The instance id of its map. */
  instanceId: bigint;
  digest: Digest;
  /** The cache's tmp/ directory. */
  tmp: string;
}

/**
 * Atomically stores a sidecar of an instance. Returns false when the instance directory is
 * gone (evicted, discarded or moved meanwhile): the sidecar is then not stored anywhere.
 */
export async function writeSidecar(home: SidecarHome, name: string, bytes: Uint8Array): Promise<boolean> {
  checkSidecarName(name);
  if (bytes.byteLength > MAX_SIDECAR_BYTES)
    throw new InvalidOptionError('bytes', `sidecar larger than ${MAX_SIDECAR_BYTES} bytes`);
  const dir = join(home.dir, SIDECARS_DIR);
  const tmp = join(home.tmp, randomName('sidecar'));
  const fh = await open(tmp, 'wx', 0o600).catch((err: unknown) => {
    throw new CacheIoError(tmp, 'create', err);
  });
  try {
    const head = encodeHead(`${home.digest.value}/${name}`, home.instanceId, bytes);
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
    // Not recursive: a vanished instance directory must not be re-created as an empty one.
    await mkdir(dir, { mode: 0o700 }).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    });
    await rename(tmp, join(dir, name));
    await fsyncDir(dir);
    return true;
  } catch (err) {
    await unlink(tmp).catch(() => {});
    if (isNotFound(err)) return false;
    throw new CacheIoError(join(dir, name), 'rename', err);
  }
}

/** Reads a sidecar of an instance; undefined when absent, corrupt or another instance's (then deleted). */
export async function readSidecar(home: Omit<SidecarHome, 'tmp'>, name: string): Promise<Uint8Array | undefined> {
  checkSidecarName(name);
  const path = join(home.dir, SIDECARS_DIR, name);
  let file: Buffer;
  try {
    file = await readFile(path);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw new CacheIoError(path, 'read', err);
  }
  const r = decodeSidecar(file, `${home.digest.value}/${name}`, home.instanceId);
  if (typeof r === 'string') {
    debug('sidecar %s: %s; deleting it', path, r);
    await unlink(path).catch(() => {});
    return undefined;
  }
  return r;
}

/** What {@link checkSidecars} found. */
export interface SidecarCheck {
  /** Sidecars that are intact and bound to the instance. */
  kept: string[];
  /** Sidecars deleted, with the reason. */
  discarded: { name: string; reason: string }[];
}

/** Checks every sidecar of an instance (for `cache verify`), deleting bad ones. */
export async function checkSidecars(home: Omit<SidecarHome, 'tmp'>): Promise<SidecarCheck> {
  const out: SidecarCheck = { kept: [], discarded: [] };
  const dir = join(home.dir, SIDECARS_DIR);
  for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) {
    const path = join(dir, name);
    let reason: string | undefined;
    try {
      checkSidecarName(name);
      const r = decodeSidecar(await readFile(path), `${home.digest.value}/${name}`, home.instanceId);
      if (typeof r === 'string') reason = r;
    } catch (err) {
      if (isNotFound(err)) continue;
      reason = err instanceof InvalidOptionError ? 'not a sidecar name' : (err as Error).message;
    }
    if (reason === undefined) out.kept.push(name);
    else {
      debug('sidecar %s: %s; deleting it', path, reason);
      await unlink(path).catch(() => {});
      out.discarded.push({ name, reason });
    }
  }
  return out;
}
