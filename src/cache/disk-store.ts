/**
 * The on-disk store of one blob instance: `data` (the blob's bytes at their offsets, sparse) and
 * `map` (header + one presence byte per chunk), in a directory that is created whole in tmp/ and
 * renamed into place, and evicted whole by renaming it into trash/.
 *
 * Write protocol (what makes crashes harmless):
 * 1. the chunk's bytes are written to `data` (pwrite);
 * 2. a group commit fdatasyncs `data` once for every chunk written since the last commit;
 * 3. only then are their map bytes set to PRESENT.
 * A crash at any point loses at most unmarked work; a marked chunk's bytes are always on disk.
 * Between 1 and 3 the chunk is readable by this process (the page cache holds the bytes we
 * wrote), never by others, which trust only the map.
 *
 * @packageDocumentation
 */
import { mkdir, open, rename, stat, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { debuglog } from 'node:util';
import { ClaimSet, CLAIM_BLOCK_BYTES } from './claims.js';
import { BlobSizeMismatchError, CacheCorruptError, CacheIoError } from './errors.js';
import type { ParsedDigest } from './digest.js';
import { evictDir } from './evict.js';
import { fsyncDir, isNoSpace, isNotFound, preadFull, pwriteFull, pwritevFull, randomName, removeTree } from './fs-util.js';
import { partsLength, sliceParts } from './streaming.js';
import { CLAIMS_DIR, DATA_FILE, MAP_FILE, type CacheLayout } from './layout.js';
import {
  BlobState,
  CHUNK_MISSING,
  CHUNK_PRESENT,
  chunkCount,
  countPresent,
  decodeHeader,
  encodeHeader,
  MAP_HEADER_SIZE,
  STATE_OFFSET,
} from './map-format.js';
import { MAX_CHUNKS_PER_BLOB } from './options.js';
import { StoreMissError, type ChunkStore, type WriteResult } from './store.js';

const debug = debuglog('ocifs:cache');

/** Largest single pwrite (whole chunks): what fits of a run on a nearly full disk is kept. */
const WRITE_SLICE_BYTES = 1024 * 1024;

/** Minimum time between two LRU access-time updates of one blob. */
export const ACCESS_TOUCH_INTERVAL_MS = 60_000;

/** What {@link DiskStore.open} needs. */
export interface DiskStoreParams {
  layout: CacheLayout;
  digest: ParsedDigest;
  /** The blob's size; an instance recording another size is discarded. Undefined (management only): take it from the instance. */
  size: number | undefined;
  /** Chunk size for a new instance. */
  chunkSize: number;
  /** Keep an existing instance's own chunk size (true on first open); false: discard an instance with another chunk size. */
  adoptChunkSize: boolean;
  claimStaleMs: number;
  /** Whether completion needs verification (a 'complete' but unverified instance is then not complete). */
  verify: boolean;
}

const LOCAL_MISSING = 0;
const LOCAL_WRITTEN = 1; // readable by this process, not yet durable/marked
const LOCAL_DURABLE = 2;

interface Batch {
  chunks: number[];
  promise: Promise<boolean>;
  resolve: (ok: boolean) => void;
}

/** What {@link DiskStore.probe} found. */
export type Probe =
  | { kind: 'missing' }
  | { kind: 'retry' }
  | { kind: 'corrupt'; reason: string; ino: number | undefined }
  | { kind: 'conflict'; verifiedSize: number }
  | { kind: 'ok'; store: DiskStore };

/** One blob instance on disk. */
export class DiskStore implements ChunkStore {
  readonly kind = 'disk' as const;
  readonly chunkCount: number;
  readonly claims: ClaimSet;
  complete: boolean;
  presentCount: number;
  noSpace = false;
  private readonly local: Uint8Array;
  private batch: Batch | null = null;
  private syncing: Promise<void> | null = null;
  private failed = false;
  private retired = false;
  private closed = false;
  private activeOps = 0;
  private idle: (() => void) | null = null;
  private lastTouch = 0;
  private closing: Promise<void> | null = null;
  /** Inode of the data file this store has open. */
  dataIno = -1;

  private constructor(
    private readonly p: DiskStoreParams,
    private readonly dir: string,
    private readonly mapFh: FileHandle,
    private readonly dataFh: FileHandle,
    private readonly mapIno: number,
    readonly size: number,
    readonly chunkSize: number,
    map: Uint8Array,
    present: number,
    complete: boolean,
  ) {
    this.chunkCount = map.length;
    this.local = new Uint8Array(map.length);
    for (let i = 0; i < map.length; i++) if (map[i] === CHUNK_PRESENT) this.local[i] = LOCAL_DURABLE;
    this.presentCount = present;
    this.complete = complete;
    const blockChunks = Math.max(1, Math.floor(CLAIM_BLOCK_BYTES / chunkSize));
    this.claims = new ClaimSet(join(dir, CLAIMS_DIR), blockChunks, p.claimStaleMs);
  }

  /** Opens the blob's current instance, replacing a corrupt or mismatched one, or creates it. */
  static async open(p: DiskStoreParams): Promise<DiskStore> {
    const dir = p.layout.blobDir(p.digest);
    if (p.size === undefined) throw new TypeError('DiskStore.open needs the blob size');
    for (let attempt = 0; attempt < 8; attempt++) {
      const probe = await DiskStore.probe(p, dir);
      if (probe.kind === 'ok') {
        probe.store.touch();
        return probe.store;
      }
      if (probe.kind === 'conflict') throw new BlobSizeMismatchError(p.digest.digest, p.size, probe.verifiedSize);
      if (probe.kind === 'corrupt') {
        debug('%s: discarding instance: %s', p.digest.digest, probe.reason);
        await evictDir(dir, p.layout.trash, probe.ino).catch((err) => debug('evict %s: %s', dir, err));
      } else if (probe.kind === 'missing') {
        await DiskStore.create(p, p.size, dir);
      }
    }
    throw new CacheIoError(dir, 'open blob instance (kept changing under us)', undefined);
  }

  /** Opens the existing instance if it is valid; never creates or removes anything. */
  static async probe(p: DiskStoreParams, dir = p.layout.blobDir(p.digest)): Promise<Probe> {
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
      if (h.algorithm !== p.digest.algorithm || h.digestHex !== p.digest.hex) return corrupt('map belongs to another digest');
      if (p.size !== undefined && h.blobSize !== p.size) {
        // A verified copy proves the digest's size; an unverified one proves nothing: start over.
        if (h.state === BlobState.Verified) return { kind: 'conflict', verifiedSize: h.blobSize };
        return corrupt(`blob size ${h.blobSize} in map, ${p.size} expected`);
      }
      if (!p.adoptChunkSize && h.chunkSize !== p.chunkSize) return corrupt(`chunk size ${h.chunkSize}, ${p.chunkSize} expected`);
      if (chunkCount(h.blobSize, h.chunkSize) > MAX_CHUNKS_PER_BLOB) return corrupt('too many chunks');
      const n = chunkCount(h.blobSize, h.chunkSize);
      if (mapSt.size !== MAP_HEADER_SIZE + n) return corrupt(`map file is ${mapSt.size} bytes, want ${MAP_HEADER_SIZE + n}`);
      if (dataSt.size !== h.blobSize) return corrupt(`data file is ${dataSt.size} bytes, want ${h.blobSize}`);
      if (h.state === BlobState.Bad) return corrupt('marked bad');
      const map = new Uint8Array(n);
      await preadFull(mapFh, map, 0, n, MAP_HEADER_SIZE, mapPath);
      const present = countPresent(map);
      if (present < 0) return corrupt('invalid presence byte');
      const allPresent = present === n;
      if ((h.state === BlobState.Verified || h.state === BlobState.Complete) && !allPresent) return corrupt('complete state with missing chunks');
      const complete = h.state === BlobState.Verified || (h.state === BlobState.Complete && !p.verify);
      const store = new DiskStore(p, dir, mapFh, dataFh, mapSt.ino, h.blobSize, h.chunkSize, map, present, complete);
      store.dataIno = dataSt.ino;
      keep = true;
      return { kind: 'ok', store };
    } finally {
      if (!keep) {
        await mapFh.close().catch(() => {});
        await dataFh?.close().catch(() => {});
      }
    }
  }

  /** Builds a fresh instance in tmp/ and renames it into place (losing the race is fine). */
  private static async create(p: DiskStoreParams, size: number, dir: string): Promise<void> {
    const tmp = join(p.layout.tmp, randomName('blob'));
    const n = chunkCount(size, p.chunkSize);
    try {
      await mkdir(tmp, { mode: 0o700 });
      await mkdir(join(tmp, CLAIMS_DIR), { mode: 0o700 });
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
        for (let off = 0; off < n; off += zeros.length) await pwriteFull(map, zeros.subarray(0, Math.min(zeros.length, n - off)), MAP_HEADER_SIZE + off);
        await map.sync();
      } finally {
        await map.close();
      }
      await fsyncDir(tmp);
      try {
        await rename(tmp, dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOTEMPTY' || code === 'EEXIST') return; // another process created it first
        throw err;
      }
      await fsyncDir(join(dir, '..'));
    } catch (err) {
      if (isNoSpace(err)) throw err;
      if (err instanceof CacheIoError) throw err;
      throw new CacheIoError(dir, 'create blob instance', err);
    } finally {
      await removeTree(tmp).catch(() => {});
    }
  }

  /** Bytes of the blob present (durable or written by us). */
  get presentBytes(): number {
    if (this.complete) return this.size;
    let bytes = this.presentCount * this.chunkSize;
    const last = this.chunkCount - 1;
    if (last >= 0 && this.local[last] !== LOCAL_MISSING) bytes -= this.chunkCount * this.chunkSize - this.size;
    return bytes;
  }

  has(c: number): boolean {
    return this.complete || this.local[c] !== LOCAL_MISSING;
  }

  private async op<T>(fn: () => Promise<T>): Promise<T> {
    this.activeOps++;
    try {
      return await fn();
    } finally {
      if (--this.activeOps === 0 && this.idle) this.idle();
    }
  }

  async refresh(c0: number, c1: number): Promise<void> {
    if (this.complete || this.closed || c1 <= c0) return;
    await this.op(async () => {
      const n = c1 - c0;
      const buf = Buffer.allocUnsafe(n);
      // What we knew before reading: our own marks may land while the read is in flight, so a
      // chunk only counts as "marked by us, yet missing on disk" if it was marked before.
      const before = this.local.slice(c0, c1);
      await preadFull(this.mapFh, buf, 0, n, MAP_HEADER_SIZE + c0, join(this.dir, MAP_FILE));
      for (let i = 0; i < n; i++) {
        const v = buf[i];
        const c = c0 + i;
        if (v === CHUNK_PRESENT) {
          if (this.local[c] === LOCAL_MISSING) this.presentCount++;
          this.local[c] = LOCAL_DURABLE;
        } else if (v !== CHUNK_MISSING || before[i] === LOCAL_DURABLE) {
          throw new CacheCorruptError(join(this.dir, MAP_FILE), `chunk ${c} has presence byte 0x${v.toString(16)}`);
        }
      }
    });
  }

  async read(offset: number, length: number, buf: Uint8Array, bufOffset: number): Promise<void> {
    if (length === 0) return;
    if (this.closed) throw new StoreMissError(Math.floor(offset / this.chunkSize));
    if (!this.complete) {
      const last = Math.floor((offset + length - 1) / this.chunkSize);
      for (let c = Math.floor(offset / this.chunkSize); c <= last; c++) if (this.local[c] === LOCAL_MISSING) throw new StoreMissError(c);
    }
    await this.op(() => preadFull(this.dataFh, buf, bufOffset, length, offset, join(this.dir, DATA_FILE)));
  }

  async write(c0: number, bytes: Uint8Array | readonly Uint8Array[]): Promise<WriteResult | null> {
    if (this.retired || this.failed || this.closed) return null;
    // One operation until its marks are queued: a close waits for it, then commits them.
    return this.op(() => this.writeNow(c0, bytes));
  }

  private async writeNow(c0: number, bytes: Uint8Array | readonly Uint8Array[]): Promise<WriteResult | null> {
    const cs = this.chunkSize;
    const parts = bytes instanceof Uint8Array ? [bytes] : bytes;
    const total = partsLength(parts);
    const n = Math.ceil(total / cs);
    const written: number[] = [];
    // Written in slices of whole chunks, so that on a full disk the chunks that did fit are kept;
    // the slices go out together (one round trip through the thread pool, not one per slice).
    const sliceChunks = Math.max(1, Math.floor(WRITE_SLICE_BYTES / cs));
    let full = false;
    let failure: unknown;
    await this.op(async () => {
      // Only missing chunks are written: bytes already marked present are never overwritten.
      const slices: [number, number][] = [];
      for (let c = c0; c < c0 + n; ) {
        if (this.local[c] !== LOCAL_MISSING) {
          c++;
          continue;
        }
        let e = c;
        while (e < c0 + n && e - c < sliceChunks && this.local[e] === LOCAL_MISSING) e++;
        slices.push([c, e]);
        c = e;
      }
      const results = await Promise.allSettled(
        slices.map(([c, e]) => pwritevFull(this.dataFh, sliceParts(parts, (c - c0) * cs, Math.min(total, (e - c0) * cs)), c * cs)),
      );
      results.forEach((r, i) => {
        const [c, e] = slices[i];
        if (r.status === 'fulfilled') for (let k = c; k < e; k++) written.push(k);
        else if (isNoSpace(r.reason)) full = true;
        else failure ??= r.reason;
      });
    });
    if (failure !== undefined) throw new CacheIoError(join(this.dir, DATA_FILE), 'write', failure);
    if (full) {
      this.noSpace = true;
      debug('%s: no space to cache all of %d bytes at %d; the rest is served uncached', this.p.digest.digest, total, c0 * cs);
    }
    if (!full) this.noSpace = false;
    const fresh = written.filter((c) => this.local[c] === LOCAL_MISSING);
    if (full && fresh.length === 0) return null;
    for (const c of fresh) this.local[c] = LOCAL_WRITTEN;
    this.presentCount += fresh.length;
    const all = fresh.length === n;
    if (fresh.length === 0) return { durable: Promise.resolve(true), all };
    return { durable: this.enqueue(fresh), all };
  }

  private enqueue(chunks: number[]): Promise<boolean> {
    if (!this.batch) {
      let resolve!: (ok: boolean) => void;
      const promise = new Promise<boolean>((r) => (resolve = r));
      this.batch = { chunks: [], promise, resolve };
    }
    this.batch.chunks.push(...chunks);
    const p = this.batch.promise;
    this.syncing ??= this.syncLoop();
    return p;
  }

  /** Group commit: one fdatasync of the data file covers every chunk written before it started. */
  private async syncLoop(): Promise<void> {
    this.activeOps++;
    try {
      // Never finish synchronously: `syncing` is assigned after this returns and reset below.
      await Promise.resolve();
      while (this.batch) {
        const b = this.batch;
        this.batch = null;
        let ok = !this.failed;
        if (ok) {
          try {
            await this.dataFh.datasync();
            await this.writeMarks(b.chunks);
          } catch (err) {
            ok = false;
            // After a failed writeback the kernel may drop the pages and report the error only
            // once: nothing written to this instance since can be trusted, so stop caching here.
            this.failed = true;
            if (isNoSpace(err)) this.noSpace = true;
            debug('%s: commit failed (%s); chunks stay missing, caching stops for this blob', this.p.digest.digest, (err as Error).message);
          }
        }
        for (const c of b.chunks) {
          if (ok) this.local[c] = LOCAL_DURABLE;
          else if (this.local[c] === LOCAL_WRITTEN) {
            this.local[c] = LOCAL_MISSING;
            this.presentCount--;
          }
        }
        b.resolve(ok);
      }
    } finally {
      this.syncing = null;
      if (--this.activeOps === 0 && this.idle) this.idle();
    }
  }

  private async writeMarks(chunks: number[]): Promise<void> {
    chunks.sort((a, b) => a - b);
    let i = 0;
    while (i < chunks.length) {
      let j = i + 1;
      while (j < chunks.length && chunks[j] === chunks[j - 1] + 1) j++;
      await pwriteFull(this.mapFh, Buffer.alloc(j - i, CHUNK_PRESENT), MAP_HEADER_SIZE + chunks[i]);
      i = j;
    }
  }

  async flush(): Promise<void> {
    for (let s = this.syncing; s; s = this.syncing) {
      await s;
      if (this.syncing === s) break; // (defensive: a finished loop must never be awaited forever)
    }
  }

  async setComplete(verified: boolean): Promise<void> {
    if (this.closed || this.failed) return;
    await this.op(async () => {
      await pwriteFull(this.mapFh, Uint8Array.of(verified ? BlobState.Verified : BlobState.Complete), STATE_OFFSET);
      await this.mapFh.datasync();
    });
    this.complete = verified || !this.p.verify;
  }

  async discard(reason: string): Promise<void> {
    debug('%s: discarding: %s', this.p.digest.digest, reason);
    this.failed = true;
    this.complete = false;
    this.local.fill(LOCAL_MISSING);
    this.presentCount = 0;
    if (!this.closed) {
      // Tell other processes holding this instance open, then remove it.
      await this.op(() => pwriteFull(this.mapFh, Uint8Array.of(BlobState.Bad), STATE_OFFSET)).catch(() => {});
    }
    await evictDir(this.dir, this.p.layout.trash, this.mapIno).catch((err) => debug('evict %s: %s', this.dir, err));
    this.retire();
  }

  /**
   * A new read-only handle on the data file of this (verified) instance, or null. The path is
   * opened and checked to be the very file this store holds, so an instance evicted and
   * re-created meanwhile (partial, holes) is never handed out.
   */
  async openVerifiedData(): Promise<FileHandle | null> {
    return this.complete ? this.openData() : null;
  }

  /**
   * A new read-only handle on the data file of this instance (complete or not), or null when
   * it is gone: its present chunks never change, so reading them through the handle is safe.
   */
  async openData(): Promise<FileHandle | null> {
    if (this.closed) return null;
    let fh: FileHandle | undefined;
    try {
      fh = await open(join(this.dir, DATA_FILE), 'r');
      if ((await fh.stat()).ino === this.dataIno) return fh;
    } catch {
      /* evicted */
    }
    await fh?.close().catch(() => {});
    return null;
  }

  async isCurrent(): Promise<boolean> {
    try {
      return (await stat(join(this.dir, MAP_FILE))).ino === this.mapIno;
    } catch {
      return false;
    }
  }

  touch(): void {
    const now = Date.now();
    if (now - this.lastTouch < ACCESS_TOUCH_INTERVAL_MS) return;
    this.lastTouch = now;
    const t = new Date(now);
    utimes(this.dir, t, t).catch(() => {});
  }

  retire(): void {
    if (this.retired) return;
    this.retired = true;
    void this.close().catch(() => {});
  }

  close(): Promise<void> {
    this.retired = true;
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    // Writes under way finish and their marks are committed before the files close (a write
    // that ended after the commit loop used to queue marks that then failed on a closed file:
    // a clean close lost the chunks a reader had just downloaded). Claims go last: other
    // processes trust the map only.
    for (;;) {
      if (this.activeOps > 0) await new Promise<void>((r) => (this.idle = r));
      else if (this.syncing) await this.flush();
      else break;
    }
    await this.claims.releaseAll();
    this.closed = true;
    await Promise.all([this.mapFh.close().catch(() => {}), this.dataFh.close().catch(() => {})]);
  }
}
