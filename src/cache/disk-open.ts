/**
 * Finding, checking and creating the on-disk instance a {@link DiskStore} serves: the verified
 * instance in `blobs/` (shared by every origin) when there is one, else the caller's origin's
 * own unverified instance in `partial/<digest>/<origin-id>/`, created when missing. Other
 * origins' unverified copies are never opened for reading: once the blob is verified they are
 * compared with it (a difference is reported) and dropped.
 *
 * @packageDocumentation
 */
import { mkdir, open, readdir, readFile, rename, rmdir, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { debuglog } from '../io/debug-log.js';
import { chunkRuns } from './chunk-runs.js';
import { DiskStore, type DiskStoreParams, type InstancePlace } from './disk-store.js';
import { BlobSizeMismatchError, CacheIoError } from './errors.js';
import { evictDir } from './evict.js';
import { fsyncDir, isNoSpace, isNotFound, preadFull, pwriteFull, randomName, removeTree } from './fs-util.js';
import { CLAIMS_DIR, DATA_FILE, MAP_FILE, ORIGIN_FILE, SIDECARS_DIR } from './layout.js';
import { BlobState, chunkCount, countPresent, decodeHeader, encodeHeader, MAP_HEADER_SIZE } from './map-format.js';
import { MAX_CHUNKS_PER_BLOB } from './options.js';
import { isOriginId, originId } from './origin.js';

const debug = debuglog('ocifs:cache');

/** Bytes compared at once when checking another origin's copy against the verified blob. */
const COMPARE_PIECE_BYTES = 4 * 1024 * 1024;

/** What {@link probeInstance} found. */
export type Probe =
  | { kind: 'missing' }
  | { kind: 'retry' }
  | { kind: 'corrupt'; reason: string; ino: number | undefined }
  | { kind: 'conflict'; verifiedSize: number }
  | { kind: 'ok'; store: DiskStore; ino: number };

/**
 * Opens the instance a source of `p.origin` reads: the verified one, else this origin's
 * unverified one (created when missing). Corrupt or mismatched instances are replaced; an
 * instance in `blobs/` that is not verified (an older ocifs kept partial instances there, of
 * unknown origin) is discarded.
 */
export async function openDiskStore(p: DiskStoreParams): Promise<DiskStore> {
  if (p.size === undefined) throw new TypeError('openDiskStore needs the blob size');
  const verifiedDir = p.layout.blobDir(p.digest);
  const partialDir = p.layout.partialDir(p.digest, originId(p.origin));
  for (let attempt = 0; attempt < 8; attempt++) {
    const v = await probeInstance(p, verifiedDir, 'verified');
    if (v.kind === 'ok') {
      if (v.store.verified) {
        v.store.touch();
        await reconcileOrigins(p, v.store);
        return v.store;
      }
      await v.store.close();
      await discardDir(
        p,
        verifiedDir,
        v.ino,
        'not verified, in the verified place (left by an older ocifs; its origin is unknown)',
      );
      continue;
    }
    if (v.kind === 'conflict') throw new BlobSizeMismatchError(p.digest.value, p.size, v.verifiedSize);
    if (v.kind === 'corrupt') await discardDir(p, verifiedDir, v.ino, v.reason);
    if (v.kind !== 'missing') continue;
    const q = await probeInstance(p, partialDir, 'partial');
    if (q.kind === 'ok') {
      if (!q.store.verified) {
        q.store.touch();
        return q.store;
      }
      // Verified, but a crash came before its move into blobs/: finish the move.
      await q.store.promote();
      await q.store.close();
    } else if (q.kind === 'conflict') throw new BlobSizeMismatchError(p.digest.value, p.size, q.verifiedSize);
    else if (q.kind === 'corrupt') await discardDir(p, partialDir, q.ino, q.reason);
    else if (q.kind === 'missing') await createInstance(p, p.size, partialDir);
  }
  throw new CacheIoError(partialDir, 'open blob instance (kept changing under us)', undefined);
}

async function discardDir(p: DiskStoreParams, dir: string, ino: number | undefined, reason: string): Promise<void> {
  debug('%s: discarding instance %s: %s', p.digest.value, dir, reason);
  await evictDir(dir, p.layout.trash, ino).catch((err: unknown) => debug('evict %s: %s', dir, err));
}

/** Opens the instance in `dir` if it is valid; never creates or removes anything. */
export async function probeInstance(p: DiskStoreParams, dir: string, place: InstancePlace): Promise<Probe> {
  const mapPath = join(dir, MAP_FILE);
  const dataPath = join(dir, DATA_FILE);
  let mapFh: FileHandle;
  try {
    mapFh = await open(mapPath, 'r+');
  } catch (err) {
    if (isNotFound(err)) {
      // A directory without a map is a broken leftover; with nothing at all, create.
      try {
        await stat(dir);
        return { kind: 'corrupt', reason: 'no map file', ino: undefined };
      } catch {
        return { kind: 'missing' };
      }
    }
    throw new CacheIoError(mapPath, 'open', err);
  }
  let dataFh: FileHandle | undefined;
  let keep = false;
  try {
    const mapSt = await mapFh.stat();
    try {
      dataFh = await open(dataPath, 'r+');
    } catch (err) {
      if (!isNotFound(err)) throw new CacheIoError(dataPath, 'open', err);
      const again = await stat(mapPath).catch(() => undefined);
      return again?.ino === mapSt.ino ? { kind: 'corrupt', reason: 'no data file', ino: mapSt.ino } : { kind: 'retry' };
    }
    const dataSt = await dataFh.stat();
    // Both handles must belong to the same instance: while we hold them their inode numbers
    // cannot be reused, so if both paths still name them now, they were opened from one dir.
    const [m2, d2] = await Promise.all([stat(mapPath).catch(() => undefined), stat(dataPath).catch(() => undefined)]);
    if (m2?.ino !== mapSt.ino || d2?.ino !== dataSt.ino) return { kind: 'retry' };
    const head = new Uint8Array(MAP_HEADER_SIZE);
    const corrupt = (reason: string): Probe => ({ kind: 'corrupt', reason, ino: mapSt.ino });
    if (mapSt.size < MAP_HEADER_SIZE) return corrupt(`map file is ${mapSt.size} bytes`);
    await preadFull(mapFh, head, 0, MAP_HEADER_SIZE, 0, mapPath);
    const h = decodeHeader(head);
    if (typeof h === 'string') return corrupt(h);
    if (h.algorithm !== p.digest.algorithm || h.digestHex !== p.digest.hex)
      return corrupt('map belongs to another digest');
    if (p.size !== undefined && h.blobSize !== p.size) {
      // A verified copy proves the digest's size; an unverified one proves nothing: start over.
      if (h.state === BlobState.Verified) return { kind: 'conflict', verifiedSize: h.blobSize };
      return corrupt(`blob size ${h.blobSize} in map, ${p.size} expected`);
    }
    if (!p.adoptChunkSize && h.chunkSize !== p.chunkSize)
      return corrupt(`chunk size ${h.chunkSize}, ${p.chunkSize} expected`);
    const n = chunkCount(h.blobSize, h.chunkSize);
    if (n > MAX_CHUNKS_PER_BLOB) return corrupt('too many chunks');
    if (mapSt.size !== MAP_HEADER_SIZE + n)
      return corrupt(`map file is ${mapSt.size} bytes, want ${MAP_HEADER_SIZE + n}`);
    if (dataSt.size !== h.blobSize) return corrupt(`data file is ${dataSt.size} bytes, want ${h.blobSize}`);
    if (h.state === BlobState.Bad) return corrupt('marked bad');
    const map = new Uint8Array(n);
    await preadFull(mapFh, map, 0, n, MAP_HEADER_SIZE, mapPath);
    const present = countPresent(map);
    if (present < 0) return corrupt('invalid presence byte');
    if ((h.state === BlobState.Verified || h.state === BlobState.Complete) && present !== n)
      return corrupt('complete state with missing chunks');
    const store = new DiskStore(p, {
      dir,
      place,
      mapFh,
      dataFh,
      mapIno: mapSt.ino,
      dataIno: dataSt.ino,
      size: h.blobSize,
      chunkSize: h.chunkSize,
      map,
      present,
      state: h.state,
      instanceId: h.instanceId,
    });
    keep = true;
    return { kind: 'ok', store, ino: mapSt.ino };
  } finally {
    if (!keep) {
      await mapFh.close().catch(() => {});
      await dataFh?.close().catch(() => {});
    }
  }
}

/** Builds a fresh instance in tmp/ and renames it into `dir` (losing the race is fine). */
async function createInstance(p: DiskStoreParams, size: number, dir: string): Promise<void> {
  const tmp = join(p.layout.tmp, randomName('blob'));
  const n = chunkCount(size, p.chunkSize);
  try {
    await mkdir(tmp, { mode: 0o700 });
    await mkdir(join(tmp, CLAIMS_DIR), { mode: 0o700 });
    await mkdir(join(tmp, SIDECARS_DIR), { mode: 0o700 });
    await writeFile(join(tmp, ORIGIN_FILE), p.origin + '\n', { mode: 0o600 });
    const data = await open(join(tmp, DATA_FILE), 'wx', 0o600);
    try {
      await data.truncate(size);
      await data.sync();
    } finally {
      await data.close();
    }
    const map = await open(join(tmp, MAP_FILE), 'wx', 0o600);
    try {
      const id = randomBytes(8).readBigUInt64LE(0);
      await pwriteFull(map, encodeHeader(p.digest, size, p.chunkSize, id, BlobState.Partial), 0);
      // Map bytes are written (not left as a hole) so marking a chunk never needs a new block.
      const zeros = new Uint8Array(Math.min(n, 1 << 20));
      for (let off = 0; off < n; off += zeros.length)
        await pwriteFull(map, zeros.subarray(0, Math.min(zeros.length, n - off)), MAP_HEADER_SIZE + off);
      await map.sync();
    } finally {
      await map.close();
    }
    await fsyncDir(tmp);
    await mkdir(dirname(dir), { mode: 0o700 }).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    });
    try {
      await rename(tmp, dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Another process created it first, or removed the (empty) parent meanwhile: look again.
      if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOENT') return;
      throw err;
    }
    await fsyncDir(dirname(dir));
  } catch (err) {
    if (isNoSpace(err)) throw err;
    if (err instanceof CacheIoError) throw err;
    throw new CacheIoError(dir, 'create blob instance', err);
  } finally {
    await removeTree(tmp).catch(() => {});
  }
}

/** The origin an unverified instance was filled through, as its `origin` file names it. */
export async function readOriginName(dir: string): Promise<string | undefined> {
  try {
    return (await readFile(join(dir, ORIGIN_FILE), 'utf8')).replace(/\n$/, '');
  } catch {
    return undefined;
  }
}

/**
 * Once a blob is verified, every origin's unverified copy of it is superseded: each is compared
 * with the verified bytes (only its present chunks), reported through `p.onOriginMismatch`
 * when they differ, and discarded. Readers still using one reattach to the verified instance.
 */
export async function reconcileOrigins(p: DiskStoreParams, verified: DiskStore): Promise<void> {
  const root = p.layout.partialRoot(p.digest);
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return;
  }
  for (const name of names) {
    const dir = join(root, name);
    if (!isOriginId(name)) continue;
    const probe = await probeInstance({ ...p, size: verified.size, adoptChunkSize: true }, dir, 'partial').catch(
      () => undefined,
    );
    if (probe?.kind === 'ok') {
      const copy = probe.store;
      let differing = 0;
      try {
        differing = await countDiffering(copy, verified);
      } catch (err) {
        debug('%s: comparing %s failed: %s', p.digest.value, dir, (err as Error).message);
      }
      const origin = (await readOriginName(dir)) ?? name;
      await copy.discard(
        differing ? `${differing} chunks differ from the verified blob` : 'superseded by the verified blob',
      );
      if (differing > 0) {
        const what = '%s: origin %s had sent %d chunks that differ from the verified blob; its copy was discarded';
        debug(what, p.digest.value, JSON.stringify(origin), differing);
        p.onOriginMismatch?.(origin, differing);
      }
    } else if (probe?.kind === 'corrupt') {
      await discardDir(p, dir, probe.ino, probe.reason);
    }
  }
  await rmdir(root).catch(() => {});
}

/** How many present chunks of `copy` differ from the verified blob. */
async function countDiffering(copy: DiskStore, verified: DiskStore): Promise<number> {
  const cs = copy.chunkSize;
  const per = Math.max(1, Math.floor(COMPARE_PIECE_BYTES / cs));
  let differing = 0;
  for (const [c, e] of chunkRuns(0, copy.chunkCount, (k) => copy.has(k), per)) {
    const from = c * cs;
    const len = Math.min(copy.size, e * cs) - from;
    const a = new Uint8Array(len);
    const b = new Uint8Array(len);
    await copy.read(from, len, a, 0);
    await verified.read(from, len, b, 0);
    for (let k = 0; k < e - c; k++) {
      const lo = k * cs;
      const hi = Math.min(len, lo + cs);
      if (Buffer.compare(a.subarray(lo, hi), b.subarray(lo, hi)) !== 0) differing++;
    }
  }
  return differing;
}
